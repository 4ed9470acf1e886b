// What this proves (issue M7 §4): the engine maps errors by their code, never their message — each Raft code to the
// SQL code a client sees (TOO_LARGE is LIMIT_EXCEEDED, never a transfer failure; a refused RPC is an internal error;
// an ambiguous outcome says so), and each state machine refusal code (one ErrorResponse type) to its SQL code.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MultiRaftError } from '@kalam/multiraft';
import type { MultiRaftErrorCode } from '@kalam/multiraft';
import { fromRefusal, toKalamError } from '../src/sql/errors.js';

test('Raft codes map to SQL codes by code', () => {
  const cases: [MultiRaftErrorCode, string, boolean][] = [
    ['TOO_LARGE', 'LIMIT_EXCEEDED', false],
    ['NOT_LEADER', 'NOT_LEADER', false],
    ['LEADER_NOT_AVAILABLE', 'LEADER_NOT_AVAILABLE', false],
    ['TIMEOUT', 'CLUSTER_UNAVAILABLE', true],
    ['PROPOSAL_DROPPED', 'CLUSTER_UNAVAILABLE', true],
    ['TRANSFER_FAILED', 'CLUSTER_UNAVAILABLE', false],
    ['OVERLOADED', 'CLUSTER_UNAVAILABLE', false],
    ['BAD_REQUEST', 'INTERNAL_ERROR', false],
    ['UNKNOWN_GROUP', 'INTERNAL_ERROR', false],
  ];
  for (const [raft, sql, unknown] of cases) {
    // The same message for every code: only the code may decide.
    const e = toKalamError(new MultiRaftError(raft, 'leadership is being transferred', { groupId: 1 }));
    assert.equal(e.code, sql, raft);
    assert.equal((e.details as { outcomeUnknown?: boolean }).outcomeUnknown, unknown, raft);
  }
});

test('state machine refusals map to SQL codes by code', () => {
  const cases: [string, string][] = [
    ['TABLE_NOT_FOUND', 'TABLE_NOT_FOUND'],
    ['ALREADY_EXISTS', 'ALREADY_EXISTS'],
    ['NAMESPACE_NOT_FOUND', 'NAMESPACE_NOT_FOUND'],
    ['CONFLICT', 'SQL_EXECUTION_ERROR'],
    ['INVALID', 'SQL_EXECUTION_ERROR'],
  ];
  for (const [code, sql] of cases) {
    assert.equal(fromRefusal({ type: 'Error', code, message: 'table t does not exist' }).code, sql, code);
  }
});
