/**
 * The commit-safety check on its own: which nodes it counts as candidates once configurations change. Proves that
 * a node which went down knowing its demotion was committed is judged with the configuration it will campaign
 * with (hup applies committed conf entries first), and that the check still fires when the node does not know.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfChangeV2, ConfState, Entry } from '@kalam/raft';
import { ConfChangeType, EntryKind, confState, encodeConfChange, nodeId } from '@kalam/raft';
import type { DurableLogView } from '../src/checker.js';
import { Checker } from '../src/checker.js';

const ids = [1, 2, 3].map(nodeId);
const demote: ConfChangeV2 = {
  transition: 'auto',
  changes: [
    { type: ConfChangeType.AddLearner, node: nodeId(1) },
    { type: ConfChangeType.AddLearner, node: nodeId(2) },
  ],
};
const demoted: ConfState = {
  voters: [nodeId(3)],
  votersOutgoing: [],
  learners: [nodeId(1), nodeId(2)],
  learnersNext: [],
  autoLeave: false,
};

/** Log of term 1: commands 1..4, the joint demotion at 5, its leave at 6, commands 7..9; 10 only on node 3. */
function entries(last: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 1; i <= last; i++) {
    if (i === 5) out.push({ index: i, term: 1, kind: EntryKind.Conf, data: encodeConfChange(demote) });
    else if (i === 6)
      out.push({
        index: i,
        term: 1,
        kind: EntryKind.Conf,
        data: encodeConfChange({ transition: 'auto', changes: [] }),
      });
    else out.push({ index: i, term: 1, kind: EntryKind.Command, data: new TextEncoder().encode(`c${i}`) });
  }
  return out;
}

function view(node: number, last: number, conf: ConfState, confIndex: number, commit: number): DurableLogView {
  return {
    node: nodeId(node),
    offsetIndex: 0,
    lastIndex: last,
    lastTerm: 1,
    termAt: (i) => (i <= last ? 1 : undefined),
    conf,
    confIndex,
    commit,
  };
}

function check(node1Commit: number): string[] {
  const c = new Checker(1);
  const key = (e: Entry): string => (e.kind === EntryKind.Command ? new TextDecoder().decode(e.data) : 'conf');
  for (const id of ids) c.onLogged(0, id, entries(id === 3 ? 10 : 9), key);
  // Node 3, the sole voter after the demotion, committed and applied 10 alone; node 1 holds the configuration
  // before the demotion (it applied neither conf entry), node 2 applied both.
  c.checkCommitSafety(0, 10, 1, [
    view(1, 9, confState(ids), 0, node1Commit),
    view(2, 9, demoted, 6, 9),
    view(3, 10, demoted, 6, 10),
  ]);
  return c.violations.map((v) => v.invariant);
}

test('commit-safety: a node that knows its demotion is committed is not a candidate of its older configuration', () => {
  assert.deepEqual(check(9), []);
});

test('commit-safety: a node that does not know its demotion is committed could be elected by the demoted voters', () => {
  assert.deepEqual(check(4), ['commit-safety']);
});
