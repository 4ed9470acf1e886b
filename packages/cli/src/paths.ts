/**
 * Paths of the repository this CLI was built in. The compiled file lives at
 * packages/cli/dist/src/paths.js, so the root is four levels up.
 */
import { fileURLToPath } from 'node:url';

export const repoRoot: string = fileURLToPath(new URL('../../../../', import.meta.url));
