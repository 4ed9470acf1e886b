/** The group layout the multiraft tests use: KalamDB's (DESIGN.md §1). */
/** KalamDB's 36 groups: meta:system (0), meta:users (1), meta:jobs (2), data:user:NN (100+n), data:shared:00 (200). */
export function kalamGroups(count = 36): { id: number; name: string }[] {
  const groups = [
    { id: 0, name: 'meta:system' },
    { id: 1, name: 'meta:users' },
    { id: 2, name: 'meta:jobs' },
  ];
  for (let n = 0; groups.length < count - 1; n++)
    groups.push({ id: 100 + n, name: `data:user:${String(n).padStart(2, '0')}` });
  groups.push({ id: 200, name: 'data:shared:00' });
  return groups.slice(0, count);
}
