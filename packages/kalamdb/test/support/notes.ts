// The fixture the cold-storage tests share: 4 user shards and one USER table app.notes (id BIGINT key, body TEXT).
import type { SystemCommand, TableSchema } from '../../src/index.js';

export const SHARDING = { numUserShards: 4, numSharedShards: 1 };

export const NOTES_SCHEMA: TableSchema = {
  columns: [
    { name: 'id', type: 'BIGINT', notNull: true, default: null },
    { name: 'body', type: 'TEXT', notNull: false, default: null },
  ],
  primaryKey: 'id',
  options: {},
};

/** The namespace and the table, as meta:system applies them. */
export const NOTES_DDL: SystemCommand[] = [
  { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
  { type: 'CreateTable', tableId: 'app.notes', tableType: 'USER', schema: NOTES_SCHEMA, createdAt: 2 },
];

/** app.notes as NOTES_DDL creates it: its CreateTable is meta:system entry 2. */
export const NOTES = { tableId: 'app.notes', incarnation: 2 } as const;
