/**
 * A simulated node's snapshot files (the driver's DriverSnapshotFiles, as a node keeps them in
 * `<data_dir>/snapshots/`), in memory and deterministic. A file released by the driver is gone: reading it afterwards
 * throws, so a snapshot released while something still uses it — a write in flight that stores it, a transfer that
 * sends it, an install — shows up as a violated invariant of the node. A crash loses every file of the life that
 * wrote it: an unfinished transfer's (it was never fsynced) and the finished ones, which the disk image (raft.db,
 * holding the bytes here) does not need; a node's files start empty at each boot, as `kalam serve` deletes the
 * files raft.db does not name.
 */
import type { DriverSnapshotFiles, SnapshotOutput } from '@kalam/multiraft';
import type { SnapshotData, SnapshotSinkFactory } from '@kalam/raft';

/** One finished file: its bytes until it is released. */
class SimSnapshotFile implements SnapshotData {
  private bytes: Uint8Array | undefined;
  readonly byteLength: number;

  constructor(
    readonly name: string,
    bytes: Uint8Array,
  ) {
    this.bytes = bytes;
    this.byteLength = bytes.length;
  }

  subarray(begin: number, end: number): Uint8Array {
    if (this.bytes === undefined) throw new Error(`snapshot file ${this.name} read after the driver released it`);
    return this.bytes.subarray(begin, Math.min(end, this.byteLength));
  }

  release(): void {
    if (this.bytes === undefined) throw new Error(`snapshot file ${this.name} released twice`);
    this.bytes = undefined;
  }
}

export class SimSnapshotFiles implements DriverSnapshotFiles {
  private files = 0;

  constructor(private readonly node: number) {}

  sink(groupId: number): SnapshotSinkFactory {
    return (meta, totalBytes) => {
      let bytes: Uint8Array | undefined = new Uint8Array(totalBytes);
      return {
        write: (offset, chunk) => bytes!.set(chunk, offset),
        finish: () => {
          const done = new SimSnapshotFile(`n${this.node}/${groupId}-${meta.index}-${meta.term}`, bytes!);
          bytes = undefined;
          return done;
        },
        abort: () => {
          bytes = undefined;
        },
      };
    };
  }

  output(groupId: number): SnapshotOutput {
    const parts: Uint8Array[] = [];
    const name = `n${this.node}/build-${groupId}-${++this.files}`;
    return {
      write: (bytes) => void parts.push(bytes.slice()),
      finish: () => {
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.length;
        }
        parts.length = 0;
        return new SimSnapshotFile(name, all);
      },
      abort: () => void (parts.length = 0),
    };
  }

  release(data: SnapshotData): void {
    if (data instanceof SimSnapshotFile) data.release();
  }
}
