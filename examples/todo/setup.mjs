#!/usr/bin/env node
// The todo example's schema and users, made through @kalam/client as root: namespace `todo`, the USER table
// todo.items (each user reads and writes only their own rows), and the users alice and bob (role user). Running it
// again is harmless (what exists is left as it is).
// Usage: node examples/todo/setup.mjs --nodes URL,URL,URL (--password ROOT_PASSWORD | --credentials FILE)
//        [--alice PASSWORD] [--bob PASSWORD]
// FILE is a cluster folder's credentials.json (`kalam cluster up` writes .kalam/clusters/default/credentials.json).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { createClient } from '@kalam/client';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string' },
    password: { type: 'string' },
    credentials: { type: 'string' },
    alice: { type: 'string', default: 'alice-todo-pw' },
    bob: { type: 'string', default: 'bob-todo-pw' },
  },
});
const nodes = (values.nodes ?? '').split(',').filter((n) => n !== '');
const password =
  values.password ??
  (values.credentials === undefined ? undefined : JSON.parse(readFileSync(values.credentials, 'utf8')).password);
if (nodes.length === 0 || password === undefined) {
  console.error('usage: node examples/todo/setup.mjs --nodes URL,… (--password ROOT_PASSWORD | --credentials FILE)');
  process.exit(2);
}

const root = createClient({ nodes, user: 'root', password });
/** One statement; "already exists" is fine (a second run). */
async function run(sql) {
  try {
    await root.execute(sql);
    console.log(`ok: ${sql.replace(/PASSWORD '[^']*'/, "PASSWORD '…'")}`);
  } catch (err) {
    if (!/ALREADY_EXISTS|already exists/i.test(`${err.code ?? ''} ${err.message}`)) throw err;
    console.log(`exists: ${sql.split(' (')[0].replace(/PASSWORD '[^']*'/, "PASSWORD '…'")}`);
  }
}
try {
  await run('CREATE NAMESPACE todo');
  await run('CREATE USER TABLE todo.items (id TEXT PRIMARY KEY, title TEXT, done BOOLEAN, created_at BIGINT)');
  await run(`CREATE USER 'alice' WITH PASSWORD '${values.alice}' ROLE user`);
  await run(`CREATE USER 'bob' WITH PASSWORD '${values.bob}' ROLE user`);
} finally {
  await root.close();
}
