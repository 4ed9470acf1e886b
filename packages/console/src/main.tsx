/**
 * The Kalam console: sign in, then four tabs — the cluster map, a SQL editor, a live-query viewer, jobs and
 * schedules. Everything talks to the node that served the page (api.ts), which asks its peers for their view.
 */
import { render } from 'preact';
import { useState } from 'preact/hooks';

import { ApiError, loadSession, login, saveSession } from './api.js';
import type { SignedIn } from './api.js';
import { ClusterView } from './cluster-view.js';
import { JobsView } from './jobs-view.js';
import { LiveView } from './live-view.js';
import { SqlView } from './sql-view.js';
import './style.css';

const TABS = ['Cluster', 'SQL', 'Live', 'Jobs'] as const;
type Tab = (typeof TABS)[number];

function Login({ onSignedIn }: { onSignedIn: (s: SignedIn) => void }) {
  const [username, setUsername] = useState('root');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: Event): void => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    login(username, password)
      .then(onSignedIn)
      .catch((err: unknown) => setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)))
      .finally(() => setBusy(false));
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>Kalam console</h1>
      <label>
        User
        <input name="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
      </label>
      <label>
        Password
        <input name="password" type="password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled={busy}>
        Sign in
      </button>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function App() {
  const [session, setSession] = useState<SignedIn | null>(loadSession);
  const [tab, setTab] = useState<Tab>('Cluster');
  const signIn = (s: SignedIn): void => {
    saveSession(s);
    setSession(s);
  };
  const signOut = (): void => {
    saveSession(null);
    setSession(null);
  };
  if (session === null) return <Login onSignedIn={signIn} />;
  // A 401 on any call means the token expired or was revoked: back to the sign-in form.
  const onError = (err: unknown): void => {
    if (err instanceof ApiError && err.httpStatus === 401) signOut();
  };
  return (
    <div class="shell">
      <header>
        <strong>Kalam</strong>
        <nav>
          {TABS.map((t) => (
            <button key={t} class={t === tab ? 'tab active' : 'tab'} data-tab={t} onClick={() => setTab(t)}>
              {t}
            </button>
          ))}
        </nav>
        <span class="who">
          {session.username} ({session.role})
          <button class="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        {tab === 'Cluster' && <ClusterView token={session.token} onError={onError} />}
        {tab === 'SQL' && <SqlView token={session.token} onError={onError} />}
        {tab === 'Live' && <LiveView token={session.token} />}
        {tab === 'Jobs' && <JobsView token={session.token} onError={onError} />}
      </main>
    </div>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
