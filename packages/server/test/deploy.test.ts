// The packaging under deploy/ and the Dockerfile ([M10] §5). No container engine runs on our machines, so what can be
// checked is checked here: every file parses; the configs they mount parse as the node parses them (with the
// environment each service or pod sets) and name the ports, paths and host names that the compose services, the
// Kubernetes objects and the image use; the Kubernetes start script is run by a real shell; the systemd unit passes
// `systemd-analyze verify` and its command line starts a real node with the image's config; the container health
// check answers for a live node and fails for a dead one. What is not run here: `docker build`, compose, a cluster
// on Kubernetes, and the unit under a running systemd (README, "Deploying on three machines").
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { parseAllDocuments, parse as parseYaml } from 'yaml';

import { NODE_MALLOC_ENV, parseConfig } from '../src/index.js';
import type { ClusterNodeConfig, NodeConfig } from '../src/index.js';
import { freePort, request } from './support/net.js';
import { KalamNodes } from './support/nodes.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const read = (rel: string): string => readFileSync(join(REPO, rel), 'utf8');
const run = promisify(execFile);

/** Secrets as an operator would set them; the files themselves carry none. */
const SECRETS = { KALAM_CLUSTER_SECRET: 'deploy-test-cluster-secret', KALAM_ROOT_PASSWORD: 'deploy-test-root' };

/** A config as the node would load it from `mountedAt` with `env` (only KALAM_* variables count). */
function nodeConfig(text: string, env: Record<string, string>, source: string): NodeConfig {
  return parseConfig(text, { baseDir: '/etc/kalam', env: { ...SECRETS, ...env }, source });
}

function clusterConfig(text: string, env: Record<string, string>, source: string): ClusterNodeConfig {
  const config = nodeConfig(text, env, source);
  assert.equal(config.mode, 'cluster', `${source} is a cluster config`);
  return config;
}

// ---------------------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** The Dockerfile's instructions per stage, continuation lines joined, comments dropped. */
function dockerStages(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const logical = text.replace(/\\\n/g, ' ').split('\n');
  for (const line of logical) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [op = '', ...rest] = trimmed.split(/\s+/);
    const instruction = { op: op.toUpperCase(), args: rest.join(' ') };
    if (instruction.op === 'FROM') stages.push([]);
    if (stages.length === 0) continue; // ARG before the first FROM
    stages[stages.length - 1]?.push(instruction);
  }
  return stages;
}

function jsonForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  assert.ok(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'), `exec form: ${args}`);
  return parsed;
}

const IMAGE_CONFIG = '/etc/kalam/node.toml';
const IMAGE_DATA = '/var/lib/kalam';

test('Dockerfile: node:20-slim in both stages, non-root, health check, the ports and paths the configs use', () => {
  const text = read('Dockerfile');
  assert.match(text, /^ARG NODE_IMAGE=node:20-slim$/m);
  const stages = dockerStages(text);
  assert.equal(stages.length, 2, 'multi-stage: build, then runtime');
  for (const stage of stages) assert.equal(stage[0]?.args.split(' ')[0], '${NODE_IMAGE}');
  const runtime = stages[1] ?? [];
  const one = (op: string): string => {
    const found = runtime.filter((i) => i.op === op);
    assert.equal(found.length, 1, `one ${op} in the runtime stage`);
    return found[0]?.args ?? '';
  };
  assert.doesNotMatch(one('USER'), /^(root|0)(:|$)/, 'runs as a non-root user');
  assert.equal(one('USER'), 'node', 'the user node:20-slim provides (uid 1000, as the k8s securityContext says)');
  assert.deepEqual(jsonForm(one('ENTRYPOINT')), ['node', '/app/bin/kalam']);
  assert.deepEqual(jsonForm(one('CMD')), ['serve', '--config', IMAGE_CONFIG]);
  assert.equal(one('VOLUME'), IMAGE_DATA);
  assert.deepEqual(one('EXPOSE').split(' ').map(Number), [8080, 9090]);
  const health = one('HEALTHCHECK');
  const cmd = health.slice(health.indexOf('CMD ') + 4);
  assert.deepEqual(jsonForm(cmd), ['node', '/app/deploy/healthcheck.mjs']);
  assert.match(one('ENV'), new RegExp(`MALLOC_MMAP_THRESHOLD_=${NODE_MALLOC_ENV['MALLOC_MMAP_THRESHOLD_']}\\b`));

  // Every file copied from the build context exists and is not excluded by .dockerignore.
  const ignored = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const copies = stages.flat().filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
  const sources = copies.flatMap((i) => i.args.split(' ').slice(0, -1)).filter((s) => s !== '.');
  assert.deepEqual(sources, ['deploy/healthcheck.mjs', 'deploy/standalone.toml']);
  for (const src of sources) {
    assert.ok(existsSync(join(REPO, src)), `${src} exists`);
    assert.ok(!ignored.some((pattern) => src.startsWith(pattern.replace(/^\*\*\//, ''))), `${src} not ignored`);
  }
  const copiedConfig = copies.find((i) => i.args.startsWith('deploy/standalone.toml'));
  assert.equal(copiedConfig?.args.split(' ')[1], IMAGE_CONFIG, 'the default config lands where CMD reads it');
  // The build stage builds what `npm run build` builds — the console's assets too, or /console answers 503 in the image.
  const buildRuns = (stages[0] ?? []).filter((i) => i.op === 'RUN').map((i) => i.args);
  assert.ok(
    buildRuns.some((r) => /\bnpm run build\b/.test(r)),
    `the build stage runs npm run build: ${buildRuns.join(' | ')}`,
  );
  assert.match(read('package.json'), /"build": "tsc -b && node packages\/console\/build\.mjs"/);
  // The build context leaves out what was built or installed on the host.
  for (const must of ['node_modules', '**/dist', '.git', '.kalam']) assert.ok(ignored.includes(must), must);

  // The image's default config: a standalone node on every interface, port 8080, data in the volume.
  const config = nodeConfig(read('deploy/standalone.toml'), {}, 'deploy/standalone.toml');
  assert.equal(config.mode, 'standalone');
  assert.deepEqual(config.server.apiBind, { host: '0.0.0.0', port: 8080 });
  assert.equal(config.server.dataDir, IMAGE_DATA);
});

// ---------------------------------------------------------------------------------------------------------
// compose

interface ComposeService {
  readonly hostname?: string;
  readonly image?: string;
  readonly environment?: Record<string, string>;
  readonly ports?: string[];
  readonly volumes?: string[];
}

test('compose: three nodes whose config, addresses, ports and volumes agree', () => {
  const doc = parseYaml(read('deploy/compose.yaml'), { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
  };
  const names = Object.keys(doc.services);
  assert.deepEqual(names, ['kalam1', 'kalam2', 'kalam3']);
  const hostPorts = new Set<string>();
  names.forEach((name, i) => {
    const svc = doc.services[name] ?? {};
    assert.equal(svc.hostname, name);
    assert.equal(svc.image, 'kalam:latest');
    // compose substitutes ${VAR:?…} from the operator's environment; here, the test's secrets.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(svc.environment ?? {})) {
      const required = /^\$\{(\w+):\?[^}]*\}$/.exec(v);
      env[k] = required ? ((SECRETS as Record<string, string>)[required[1] ?? ''] ?? '') : v;
    }
    assert.deepEqual(
      Object.keys(SECRETS).filter((k) => env[k] === ''),
      [],
      `${name} gets both secrets`,
    );
    const volumes = svc.volumes ?? [];
    const configMount = volumes.find((v) => v.endsWith(`:${IMAGE_CONFIG}:ro`));
    assert.ok(configMount, `${name} mounts its config at ${IMAGE_CONFIG}`);
    const configFile = join('deploy', configMount.split(':')[0] ?? '');
    const config = clusterConfig(read(configFile), env, `${configFile} as ${name}`);
    assert.equal(config.cluster.nodeId, i + 1);
    assert.equal(config.server.apiAddr.host, name, 'advertises its service name');
    assert.deepEqual(config.server.apiBind, { host: '0.0.0.0', port: 8080 });
    assert.equal(config.cluster.raft.rpcAddr.host, name);
    assert.deepEqual(config.cluster.raft.rpcBind, { host: '0.0.0.0', port: 9090 });
    assert.deepEqual(
      config.cluster.members.map((m) => [m.nodeId, m.rpcAddr.host, m.rpcAddr.port, m.apiUrl]),
      names.map((n, j) => [j + 1, n, 9090, `http://${n}:8080`]),
    );
    // The published port leads to the API's container port; data is in a named volume at data_dir.
    const [hostIp, hostPort, containerPort] = (svc.ports ?? [])[0]?.split(':') ?? [];
    assert.equal(hostIp, '127.0.0.1');
    assert.equal(Number(containerPort), config.server.apiBind.port);
    hostPorts.add(hostPort ?? '');
    const dataMount = volumes.find((v) => v.endsWith(`:${config.server.dataDir}`));
    assert.ok(dataMount && dataMount.split(':')[0] === `${name}-data`, `${name}: data volume at data_dir`);
    assert.ok(`${name}-data` in doc.volumes);
  });
  assert.equal(hostPorts.size, 3, 'distinct published ports');
});

// ---------------------------------------------------------------------------------------------------------
// Kubernetes

type K8sObject = {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

interface Probe {
  readonly httpGet: { path: string; port: string };
}
interface Container {
  readonly image: string;
  readonly command: string[];
  readonly args: string[];
  readonly env: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  readonly ports: { name: string; containerPort: number }[];
  readonly readinessProbe: Probe;
  readonly livenessProbe: Probe;
  readonly volumeMounts: { name: string; mountPath: string }[];
}

/** Runs the container's start script in a real shell as pod `hostname`, with `exec node …` swapped for `exec env`. */
function podEnvironment(container: Container, hostname: string): Record<string, string> {
  const script = container.args[0] ?? '';
  const start = `exec node /app/bin/kalam serve --config ${IMAGE_CONFIG}`;
  assert.ok(script.includes(start), 'the script ends by exec-ing the node with the mounted config');
  const probe = script.replace(start, 'exec env');
  const out = spawnSync(container.command[0] ?? '', [...container.command.slice(1), probe], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOSTNAME: hostname },
    encoding: 'utf8',
  });
  assert.equal(out.status, 0, out.stderr);
  const env: Record<string, string> = {};
  for (const line of out.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (line.startsWith('KALAM_') && eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

test('Kubernetes: a StatefulSet, a headless Service and probes that match the config each pod derives', () => {
  const docs = parseAllDocuments(read('deploy/k8s/kalam.yaml')).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS() as K8sObject;
  });
  const byKind = (kind: string): K8sObject[] => docs.filter((d) => d.kind === kind);
  const [configMap] = byKind('ConfigMap');
  const [set] = byKind('StatefulSet');
  assert.ok(configMap && set);
  const spec = set.spec as {
    serviceName: string;
    replicas: number;
    podManagementPolicy: string;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        securityContext: { runAsNonRoot: boolean; runAsUser: number };
        containers: Container[];
        volumes: { name: string; configMap?: { name: string } }[];
      };
    };
    volumeClaimTemplates: { metadata: { name: string } }[];
  };
  const headless = byKind('Service').find((s) => s.metadata.name === spec.serviceName);
  assert.ok(headless, 'the headless Service the StatefulSet names');
  const headlessSpec = headless.spec as { clusterIP: string; publishNotReadyAddresses: boolean; selector: object };
  assert.equal(headlessSpec.clusterIP, 'None');
  assert.equal(headlessSpec.publishNotReadyAddresses, true, 'peers resolve each other before they are ready');
  for (const svc of byKind('Service'))
    assert.deepEqual((svc.spec as { selector: object }).selector, spec.selector.matchLabels);
  assert.deepEqual(spec.template.metadata.labels, spec.selector.matchLabels);
  assert.equal(spec.podManagementPolicy, 'Parallel', 'OrderedReady would wait for a quorum that cannot form');
  assert.equal(spec.template.spec.securityContext.runAsNonRoot, true);
  assert.equal(spec.template.spec.securityContext.runAsUser, 1000);

  const [container] = spec.template.spec.containers;
  assert.ok(container);
  const portOf = (name: string): number | undefined => container.ports.find((p) => p.name === name)?.containerPort;
  assert.equal(container.readinessProbe.httpGet.path, '/v1/api/health/ready');
  assert.equal(container.livenessProbe.httpGet.path, '/v1/api/health/live');
  assert.equal(portOf(container.readinessProbe.httpGet.port), 8080);
  assert.equal(portOf(container.livenessProbe.httpGet.port), 8080);
  assert.deepEqual(
    container.env.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name]),
    [
      ['KALAM_CLUSTER_SECRET', 'kalam-secrets'],
      ['KALAM_ROOT_PASSWORD', 'kalam-secrets'],
    ],
  );
  const mountOf = (name: string): string | undefined => container.volumeMounts.find((m) => m.name === name)?.mountPath;
  const configVolume = spec.template.spec.volumes.find((v) => v.configMap?.name === configMap.metadata.name);
  assert.ok(configVolume);
  assert.equal(`${mountOf(configVolume.name)}/node.toml`, IMAGE_CONFIG);
  const claim = spec.volumeClaimTemplates[0]?.metadata.name ?? '';
  const tomlText = configMap.data?.['node.toml'] ?? '';

  for (let ordinal = 0; ordinal < spec.replicas; ordinal++) {
    const pod: string = `${set.metadata.name}-${ordinal}`;
    const env = podEnvironment(container, pod);
    const config = clusterConfig(tomlText, env, `ConfigMap node.toml as ${pod}`);
    assert.equal(config.cluster.nodeId, ordinal + 1);
    assert.equal(config.server.apiAddr.host, `${pod}.${spec.serviceName}`, 'advertises its stable DNS name');
    assert.equal(config.server.apiBind.port, portOf('api'));
    assert.equal(config.cluster.raft.rpcBind.port, portOf('raft'));
    assert.equal(config.server.dataDir, mountOf(claim), 'data_dir is the persistent volume');
    assert.equal(config.cluster.members.length, spec.replicas, 'one member per replica');
    const self = config.cluster.members.find((m) => m.nodeId === ordinal + 1);
    assert.equal(self?.apiUrl, `http://${pod}.${spec.serviceName}:${portOf('api')}`);
  }
});

// ---------------------------------------------------------------------------------------------------------
// systemd

const UNIT = 'deploy/systemd/kalam.service';

/** `Key=value` lines of one section of a unit file. */
function unitSection(text: string, section: string): [string, string][] {
  const out: [string, string][] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1] ?? '';
    else if (current === section) {
      const eq = line.indexOf('=');
      out.push([line.slice(0, eq), line.slice(eq + 1)]);
    }
  }
  return out;
}

function hasSystemdAnalyze(): boolean {
  return spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;
}

test('systemd: the unit passes systemd-analyze verify (and a broken copy does not)', async (t) => {
  if (!hasSystemdAnalyze()) {
    t.skip('systemd-analyze is not installed (Debian: systemd)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'kalam-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const verify = async (text: string): Promise<string> => {
    const file = join(dir, 'kalam.service');
    writeFileSync(file, text);
    const r = await run('systemd-analyze', ['verify', file]).catch((err: { stdout: string; stderr: string }) => err);
    // verify exits 0 on many problems it only reports, so its report is what is judged.
    return `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((l) => l.includes('kalam.service'))
      .join('\n');
  };
  assert.equal(await verify(read(UNIT)), '');
  // The check can fail: a misspelt key and a bad value are reported.
  const broken = read(UNIT).replace('Type=simple', 'Type=simpel').replace('KillSignal=', 'KilSignal=');
  assert.match(await verify(broken), /simpel|KilSignal/);
});

test('systemd: the unit runs kalam serve from the install folder with the image settings, and stops on SIGTERM', async (t) => {
  const service = new Map(unitSection(read(UNIT), 'Service').filter(([k]) => k !== 'Environment'));
  const env = Object.fromEntries(
    unitSection(read(UNIT), 'Service')
      .filter(([k]) => k === 'Environment')
      .map(([, v]) => v.split('=', 2) as [string, string]),
  );
  assert.equal(env['MALLOC_MMAP_THRESHOLD_'], NODE_MALLOC_ENV['MALLOC_MMAP_THRESHOLD_']);
  assert.equal(service.get('KillSignal'), 'SIGTERM');
  assert.equal(service.get('RestartPreventExitStatus'), '2', 'a config error (exit 2) is not restarted');
  assert.equal(service.get('WorkingDirectory'), '/opt/kalam');
  assert.equal(service.get('StateDirectory'), 'kalam', 'systemd creates /var/lib/kalam for the user');
  const argv = (service.get('ExecStart') ?? '').split(' ');
  assert.deepEqual(argv.slice(0, 4), ['/usr/bin/env', 'node', '/opt/kalam/bin/kalam', 'serve']);
  assert.deepEqual(argv.slice(4), ['--config', IMAGE_CONFIG]);

  // The same command with the install folder at this checkout and the image's standalone config, kept on loopback
  // and a temporary data folder by the environment overrides an operator would use.
  const dir = mkdtempSync(join(tmpdir(), 'kalam-unit-run-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const command = argv.map((a) =>
    a.replace('/opt/kalam/', REPO).replace(IMAGE_CONFIG, join(REPO, 'deploy/standalone.toml')),
  );
  const proc = spawn(command[0] ?? '', command.slice(1), {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: `${join(process.execPath, '..')}:${process.env['PATH'] ?? ''}`,
      ...env,
      KALAM_ROOT_PASSWORD: SECRETS.KALAM_ROOT_PASSWORD,
      KALAM_SERVER_API_BIND: `127.0.0.1:${port}`,
      KALAM_SERVER_DATA_DIR: join(dir, 'data'),
    },
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no ready line in 30 s: ${stderr}`)), 30_000);
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.includes('"ready"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as Record<string, unknown>);
    });
    void exited.then((code) => reject(new Error(`exited ${code} before ready: ${stderr}`)));
  });
  assert.equal(ready['mode'], 'standalone');
  const live = await request(`http://127.0.0.1:${port}`, '/v1/api/health/live');
  assert.equal(live.status, 200);
  proc.kill('SIGTERM');
  assert.equal(await exited, 0, `kalam serve stops with exit 0 on the unit's KillSignal: ${stderr}`);
});

// ---------------------------------------------------------------------------------------------------------
// The container health check

function healthcheck(url: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [join(REPO, 'deploy/healthcheck.mjs')], {
      env: { KALAM_HEALTH_URL: url, KALAM_HEALTH_TIMEOUT_MS: '5000' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('the image health check: 0 for a live node, 1 for a wrong endpoint or a closed port', async (t) => {
  const nodes = await KalamNodes.start({ members: 0 });
  t.after(() => nodes.close());
  assert.equal((await healthcheck(`${nodes.url(1)}/v1/api/health/live`)).code, 0);
  const wrong = await healthcheck(`${nodes.url(1)}/v1/api/health/nothing`);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /answered 404/);
  const closed = await healthcheck(`http://127.0.0.1:${await freePort()}/v1/api/health/live`);
  assert.equal(closed.code, 1);
  assert.match(closed.stderr, /kalam health: /);
});
