/**
 * What RaftManager puts inside transport envelopes. Raft messages travel as they are, one envelope each,
 * except heartbeats: all groups' heartbeats (and their answers) to one peer in one driver turn are
 * coalesced into a single envelope, so 36 idle groups cost about one message per peer per interval.
 */
import { MULTIRAFT_LIMITS } from './limits.js';
import type { Message, MsgHeartbeat, MsgHeartbeatResp, NodeId } from '@kalam/raft';
import { EntryKind } from '@kalam/raft';

/** The group id of coalesced envelopes: reserved, above every real group id. */
export const COALESCED_GROUP = 2 ** 31 - 1;

/** [groupId, term, commit] per heartbeat. */
export interface HeartbeatBatch {
  readonly type: 'Heartbeats';
  readonly items: readonly (readonly [number, number, number])[];
}

/** [groupId, term] per answer. */
export interface HeartbeatRespBatch {
  readonly type: 'HeartbeatResps';
  readonly items: readonly (readonly [number, number])[];
}

export type Coalesced = HeartbeatBatch | HeartbeatRespBatch;

interface Outgoing {
  readonly groupId: number;
  readonly msg: Message | Coalesced;
}

/**
 * Splits one turn's messages into envelopes: context-free heartbeats and answers are coalesced per peer;
 * everything else (including heartbeats that carry a ReadIndex context) goes as it is.
 */
export function coalesce(messages: readonly { groupId: number; msg: Message }[]): Map<NodeId, Outgoing[]> {
  const out = new Map<NodeId, Outgoing[]>();
  const beats = new Map<NodeId, [number, number, number][]>();
  const answers = new Map<NodeId, [number, number][]>();
  const push = (to: NodeId, o: Outgoing): void => {
    let list = out.get(to);
    if (list === undefined) out.set(to, (list = []));
    list.push(o);
  };
  for (const { groupId, msg } of messages) {
    if (msg.type === 'MsgHeartbeat' && msg.context === null) {
      let b = beats.get(msg.to);
      if (b === undefined) beats.set(msg.to, (b = []));
      b.push([groupId, msg.term, msg.commit]);
    } else if (msg.type === 'MsgHeartbeatResp' && msg.context === null) {
      let a = answers.get(msg.to);
      if (a === undefined) answers.set(msg.to, (a = []));
      a.push([groupId, msg.term]);
    } else {
      push(msg.to, { groupId, msg });
    }
  }
  for (const [to, items] of beats) push(to, { groupId: COALESCED_GROUP, msg: { type: 'Heartbeats', items } });
  for (const [to, items] of answers) push(to, { groupId: COALESCED_GROUP, msg: { type: 'HeartbeatResps', items } });
  return out;
}

/** Expands a coalesced envelope back into per-group messages; undefined when it is malformed. */
export function expand(from: NodeId, to: NodeId, msg: unknown): { groupId: number; msg: Message }[] | undefined {
  const m = msg as Partial<Coalesced> | null;
  if (m === null || typeof m !== 'object' || !Array.isArray(m.items)) return undefined;
  const out: { groupId: number; msg: Message }[] = [];
  if (m.type === 'Heartbeats') {
    for (const item of m.items as unknown[]) {
      if (!isTuple(item, 3)) return undefined;
      const [groupId, term, commit] = item;
      const beat: MsgHeartbeat = { type: 'MsgHeartbeat', from, to, term, commit, context: null };
      out.push({ groupId, msg: beat });
    }
    return out;
  }
  if (m.type === 'HeartbeatResps') {
    for (const item of m.items as unknown[]) {
      if (!isTuple(item, 2)) return undefined;
      const [groupId, term] = item;
      const answer: MsgHeartbeatResp = { type: 'MsgHeartbeatResp', from, to, term, context: null };
      out.push({ groupId, msg: answer });
    }
    return out;
  }
  return undefined;
}

function isTuple(item: unknown, n: 2): item is [number, number];
function isTuple(item: unknown, n: 3): item is [number, number, number];
function isTuple(item: unknown, n: number): boolean {
  return Array.isArray(item) && item.length === n && item.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
}

const MESSAGE_TYPES = new Set<string>([
  'MsgApp',
  'MsgAppResp',
  'MsgVote',
  'MsgPreVote',
  'MsgVoteResp',
  'MsgPreVoteResp',
  'MsgHeartbeat',
  'MsgHeartbeatResp',
  'MsgSnap',
  'MsgSnapResp',
  'MsgTimeoutNow',
  'MsgTransferLeader',
  'MsgReadIndex',
  'MsgReadIndexResp',
]);

const nat = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;

const ENTRY_KINDS = new Set<string>(Object.values(EntryKind));

const ids = (x: unknown): boolean => Array.isArray(x) && x.every((id) => nat(id) && (id as number) > 0);

function isConfState(x: unknown): boolean {
  const c = x as Record<string, unknown> | null;
  if (c === null || typeof c !== 'object' || typeof c.autoLeave !== 'boolean') return false;
  return ids(c.voters) && ids(c.votersOutgoing) && ids(c.learners) && ids(c.learnersNext);
}

/**
 * Checks the shape of a Raft message that came off the wire, so that a malformed one from an
 * authenticated but buggy peer is dropped instead of breaking the core. Returns the message or undefined.
 */
export function validateMessage(msg: unknown, from: NodeId, to: NodeId): Message | undefined {
  const m = msg as Record<string, unknown> | null;
  if (m === null || typeof m !== 'object' || typeof m.type !== 'string' || !MESSAGE_TYPES.has(m.type)) return undefined;
  if (m.from !== from || m.to !== to || !nat(m.term)) return undefined;
  switch (m.type) {
    case 'MsgApp':
      if (!nat(m.index) || !nat(m.logTerm) || !nat(m.commit) || !Array.isArray(m.entries)) return undefined;
      for (const e of m.entries as Record<string, unknown>[]) {
        if (e === null || typeof e !== 'object' || !nat(e.term) || !nat(e.index)) return undefined;
        if (!ENTRY_KINDS.has(e.kind as string) || !(e.data instanceof Uint8Array)) return undefined;
      }
      break;
    case 'MsgSnap': {
      const s = m.snapshot as Record<string, unknown> | null;
      if (s === null || typeof s !== 'object' || !nat(s.index) || !nat(s.term)) return undefined;
      // The configuration the snapshot carries (absent from a peer of an older version).
      if (s.confState !== undefined && !isConfState(s.confState)) return undefined;
      if (s.confIndex !== undefined && !nat(s.confIndex)) return undefined;
      if (!nat(m.offset) || !nat(m.totalBytes) || !(m.data instanceof Uint8Array)) return undefined;
      // The announced size is bounded (a node writes the chunks to a file; a sink in memory allocates it at the first
      // chunk), and no chunk may pass it.
      const [offset, total] = [m.offset as number, m.totalBytes as number];
      if (total > MULTIRAFT_LIMITS.snapshotBytesMax || offset + m.data.length > total) return undefined;
      break;
    }
    case 'MsgAppResp':
      if (!nat(m.index) || !nat(m.rejectHint) || !nat(m.logTerm) || typeof m.reject !== 'boolean') return undefined;
      break;
    case 'MsgVote':
    case 'MsgPreVote':
      if (!nat(m.index) || !nat(m.logTerm) || typeof m.transfer !== 'boolean') return undefined;
      break;
    case 'MsgVoteResp':
    case 'MsgPreVoteResp':
      if (typeof m.reject !== 'boolean') return undefined;
      break;
    case 'MsgHeartbeat':
      if (!nat(m.commit) || (m.context !== null && typeof m.context !== 'string')) return undefined;
      break;
    case 'MsgHeartbeatResp':
      if (m.context !== null && typeof m.context !== 'string') return undefined;
      break;
    case 'MsgSnapResp':
      if (!nat(m.index) || !nat(m.offset)) return undefined;
      break;
    case 'MsgTransferLeader':
      if (!nat(m.transferee)) return undefined;
      break;
    case 'MsgReadIndex':
      if (typeof m.context !== 'string') return undefined;
      break;
    case 'MsgReadIndexResp':
      if (typeof m.context !== 'string' || !nat(m.index) || typeof m.reject !== 'boolean') return undefined;
      break;
    default:
      break;
  }
  return m as unknown as Message;
}
