# Kalam's developer commands. `make test` works on a fresh clone: it installs what is missing, builds, and
# runs every test. Every target runs from the repository root.

NPM_STAMP := node_modules/.package-lock.json
TSC := node_modules/.bin/tsc
ESLINT := node_modules/.bin/eslint
PRETTIER := node_modules/.bin/prettier

.PHONY: setup build test test-unit lint format sim bench up down clean distclean

# npm ci when node_modules is missing or older than the lock file (npm ci rewrites the stamp, so the next
# run does nothing). A package.json that no longer matches the lock makes npm ci fail: run `npm install`.
setup: $(NPM_STAMP)

$(NPM_STAMP): package-lock.json package.json $(wildcard packages/*/package.json)
	npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

# The TypeScript projects, then the web console's assets (packages/console/dist, served at /console).
build: setup
	$(TSC) -b
	node packages/console/build.mjs

# Every test, then every shipped drill (short versions, real clusters); `make test-unit` skips the drills.
test: build
	node scripts/run-tests.mjs --drills

test-unit: build
	node scripts/run-tests.mjs

lint: setup
	$(ESLINT) .
	$(PRETTIER) --check .

format: setup
	$(PRETTIER) --write .

sim: build
	node bin/kalam sim --seeds 200

bench: build
	node bin/kalam bench

# A local three-node cluster under .kalam/clusters/default (see `kalam cluster --help`); `make down` stops it.
up: build
	node bin/kalam cluster up --nodes 3

down:
	node bin/kalam cluster down

# Build outputs (with their .tsbuildinfo) only; `make distclean` also removes node_modules.
clean:
	rm -rf packages/*/dist

distclean: clean
	rm -rf node_modules
