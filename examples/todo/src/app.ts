/**
 * The todo app: one page on @kalam/client. Sign in as a user; add, toggle and delete todos in the USER table
 * todo.items (each user sees only their own rows); the list is a live query — its initial rows, then every change,
 * whoever made it (another tab of the same user too). The client talks to every node the page was given: a write
 * whose node dies is retried through the next one under its client session (applied once), and the live query
 * resumes on another node from the last change it delivered. The page shows the nodes it writes through and listens
 * on. Bundled for the browser by esbuild (serve.mjs).
 */
import { createClient } from '@kalam/client';
import type { Client, LiveChange, LiveInitial, Subscription } from '@kalam/client';

interface Todo {
  readonly id: string;
  readonly title: string;
  readonly done: boolean;
  readonly createdAt: number;
}

type Row = Record<string, unknown>;

const TABLE = 'todo.items';
/** How often the nodes shown are refreshed (the client may move between writes). */
const NODE_REFRESH_MS = 500;

const todos = new Map<string, Todo>();
let client: Client | null = null;
let subscription: Subscription<Row> | null = null;

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

function todoOf(row: Row): Todo {
  const done = row['done'];
  return {
    id: String(row['id']),
    title: typeof row['title'] === 'string' ? row['title'] : '',
    done: done === true || done === 1 || done === 'true',
    createdAt: Number(row['created_at'] ?? 0),
  };
}

/** A random id made in the page, so that a retried insert names the same row. */
function newId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function showError(message: string): void {
  byId('error').textContent = message;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return 'code' in err ? `${String(err.code)}: ${err.message}` : err.message;
  return String(err);
}

function hostOf(url: string | null): string {
  return url === null ? '–' : new URL(url).host;
}

function showNodes(): void {
  if (client === null) return;
  byId('node').textContent = hostOf(client.nodes().lastUsed);
  byId('live-node').textContent = hostOf(subscription?.node ?? null);
}

function render(): void {
  const sorted = [...todos.values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  byId('todos').replaceChildren(...sorted.map(itemOf));
  byId('count').textContent = String(todos.size);
}

function itemOf(todo: Todo): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset['id'] = todo.id;
  li.dataset['done'] = String(todo.done);
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = todo.done;
  box.addEventListener('change', () => {
    void write(`UPDATE ${TABLE} SET done = $1 WHERE id = $2`, [box.checked, todo.id]);
  });
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = todo.title;
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.textContent = 'Delete';
  remove.dataset['action'] = 'delete';
  remove.addEventListener('click', () => {
    void write(`DELETE FROM ${TABLE} WHERE id = $1`, [todo.id]);
  });
  li.append(box, title, remove);
  return li;
}

/** One write through the client (a client session: retried across nodes, applied once); the live query shows it. */
async function write(sql: string, params: unknown[]): Promise<void> {
  if (client === null) return;
  try {
    await client.execute(sql, params);
    showError('');
  } catch (err) {
    showError(messageOf(err));
  }
  showNodes();
}

function onInitial(event: LiveInitial<Row>): void {
  todos.clear();
  for (const row of event.rows) {
    const todo = todoOf(row);
    todos.set(todo.id, todo);
  }
  render();
}

function onChange(event: LiveChange<Row>): void {
  const todo = todoOf(event.row);
  if (event.changeType === 'delete') todos.delete(todo.id);
  else todos.set(todo.id, todo);
  render();
}

function setLiveState(state: string): void {
  const el = byId('live-state');
  el.dataset['state'] = state;
  el.textContent = state === 'live' ? '' : `(${state})`;
}

async function signIn(user: string, password: string, nodes: readonly string[]): Promise<void> {
  const c = createClient({ nodes, user, password });
  try {
    subscription = await c.subscribe<Row>(`SELECT * FROM ${TABLE}`, {
      onInitial,
      onChange,
      onResume: () => {
        setLiveState('live');
        showNodes();
      },
      onError: (err) => {
        setLiveState('ended');
        showError(`live query ended: ${messageOf(err)}`);
      },
    });
  } catch (err) {
    await c.close();
    throw err;
  }
  client = c;
  setLiveState('live');
  byId('who').textContent = `of ${user}`;
  byId('sign-in').hidden = true;
  byId('app').hidden = false;
  showNodes();
  setInterval(showNodes, NODE_REFRESH_MS);
}

async function main(): Promise<void> {
  const config = (await (await fetch('./config.json')).json()) as { nodes: string[] };
  const signInForm = byId<HTMLFormElement>('sign-in');
  signInForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const field = (name: string): string => (signInForm.elements.namedItem(name) as HTMLInputElement).value;
    showError('');
    signIn(field('username'), field('password'), config.nodes).catch((err: unknown) => {
      showError(messageOf(err));
    });
  });
  const addForm = byId<HTMLFormElement>('add');
  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const input = addForm.elements.namedItem('title') as HTMLInputElement;
    const title = input.value.trim();
    if (title === '') return;
    input.value = '';
    void write(`INSERT INTO ${TABLE} (id, title, done, created_at) VALUES ($1, $2, false, $3)`, [
      newId(),
      title,
      Date.now(),
    ]);
  });
}

main().catch((err: unknown) => showError(`the page could not start: ${messageOf(err)}`));
