// etcd's v3 HTTP JSON gateway (etcd 3.4: grpc-gateway over the KV and Maintenance services), the few calls the
// benchmark makes. Pure: it builds request bodies and reads replies, and never touches a socket. Keys and values
// travel base64-encoded; 64-bit numbers (revisions, member ids) arrive as decimal strings, and fields at their
// zero value are left out of a reply (a range that matched nothing has no `kvs` and no `count`).
import { Buffer } from 'node:buffer';

export const ETCD_PATHS = {
  put: '/v3/kv/put',
  range: '/v3/kv/range',
  txn: '/v3/kv/txn',
  status: '/v3/maintenance/status',
};

/** etcd's default `--max-txn-ops`: a txn with more operations is refused ("too many operations in txn request"). */
export const TXN_OPS_MAX = 128;

export class EtcdReplyError extends Error {
  constructor(message, { httpStatus, grpcCode = null } = {}) {
    super(message);
    this.name = 'EtcdReplyError';
    this.httpStatus = httpStatus;
    this.grpcCode = grpcCode;
  }
}

export function toBase64(text) {
  return Buffer.from(text, 'utf8').toString('base64');
}

export function fromBase64(encoded) {
  return Buffer.from(encoded, 'base64').toString('utf8');
}

export function putRequest(key, value) {
  return { path: ETCD_PATHS.put, body: JSON.stringify({ key: toBase64(key), value: toBase64(value) }) };
}

/** A range of one key. Linearizable: etcd's default unless `serializable` is set, which this never sets. */
export function rangeRequest(key) {
  return { path: ETCD_PATHS.range, body: JSON.stringify({ key: toBase64(key) }) };
}

/** A txn with no compare whose success branch puts every [key, value] pair: one Raft entry, one revision. */
export function txnPutsRequest(pairs) {
  if (pairs.length === 0 || pairs.length > TXN_OPS_MAX) {
    throw new RangeError(`a txn holds 1 to ${TXN_OPS_MAX} puts, not ${pairs.length}`);
  }
  const success = pairs.map(([key, value]) => ({ requestPut: { key: toBase64(key), value: toBase64(value) } }));
  return { path: ETCD_PATHS.txn, body: JSON.stringify({ success }) };
}

export function statusRequest() {
  return { path: ETCD_PATHS.status, body: '{}' };
}

/** The JSON of a 200 reply; a non-200 reply becomes an EtcdReplyError carrying etcd's own message and code. */
function replyJson(httpStatus, text) {
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new EtcdReplyError(`etcd replied ${httpStatus} with no JSON: ${text.slice(0, 200)}`, { httpStatus });
  }
  if (httpStatus !== 200) {
    const message = json?.message ?? json?.error ?? `HTTP ${httpStatus}`;
    throw new EtcdReplyError(`etcd: ${message}`, { httpStatus, grpcCode: json?.code ?? null });
  }
  if (typeof json !== 'object' || json === null || typeof json.header !== 'object') {
    throw new EtcdReplyError(`etcd replied without a header: ${text.slice(0, 200)}`, { httpStatus });
  }
  return json;
}

function revisionOf(header, httpStatus) {
  const revision = Number(header.revision);
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new EtcdReplyError(`etcd replied with no revision: ${JSON.stringify(header)}`, { httpStatus });
  }
  return revision;
}

/** A put's reply: the store's revision after it. */
export function parsePutReply(httpStatus, text) {
  const json = replyJson(httpStatus, text);
  return { revision: revisionOf(json.header, httpStatus) };
}

/** A range's reply: the matching keys and values, decoded, and etcd's count. */
export function parseRangeReply(httpStatus, text) {
  const json = replyJson(httpStatus, text);
  const kvs = (json.kvs ?? []).map((kv) => ({ key: fromBase64(kv.key), value: fromBase64(kv.value ?? '') }));
  return { revision: revisionOf(json.header, httpStatus), count: Number(json.count ?? 0), kvs };
}

/** A txn-of-puts reply: it must have taken the success branch and answered every put. */
export function parseTxnPutsReply(httpStatus, text, puts) {
  const json = replyJson(httpStatus, text);
  const answered = (json.responses ?? []).filter((r) => r.response_put !== undefined).length;
  if (json.succeeded !== true || answered !== puts) {
    throw new EtcdReplyError(`etcd txn: succeeded=${json.succeeded}, ${answered} of ${puts} puts answered`, {
      httpStatus,
    });
  }
  return { revision: revisionOf(json.header, httpStatus), puts };
}

/** A member's status: its id, the leader it knows of ('0' for none) and etcd's version. */
export function parseStatusReply(httpStatus, text) {
  const json = replyJson(httpStatus, text);
  const memberId = String(json.header.member_id ?? '');
  const leaderId = String(json.leader ?? '0');
  return {
    memberId,
    leaderId,
    version: String(json.version ?? ''),
    isLeader: leaderId !== '0' && leaderId === memberId,
  };
}
