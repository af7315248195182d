// The policy table decides alone: its verdicts, and docs/security.md showing exactly that table.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTIONS, ROLES, can, forbiddenReason, type Principal, type Role } from './policy.ts';
import { REPO_ROOT } from '../../../../test/harness.ts';

const A = 'project-a';
const B = 'project-b';
const principal = (roles: Record<string, Role>, over: Partial<Principal> = {}): Principal => ({
  via: 'key', userId: 'me', userName: 'me', operator: false, keyId: 'k', scope: 'write', keyProjectId: null,
  roles: new Map(Object.entries(roles)), projectNames: new Map(Object.keys(roles).map((id) => [id, id])), ...over,
});
const mine = { projectId: A, createdById: 'me' };
const theirs = { projectId: A, createdById: 'someone-else' };

describe('can', () => {
  it('hides every resource of a project the principal has no role in, whatever the action', () => {
    const other = principal({ [B]: 'admin' });
    for (const action of Object.keys(ACTIONS) as (keyof typeof ACTIONS)[]) expect(can(other, action, mine)).toBe('hidden');
  });

  it('lets a viewer read but not write', () => {
    const viewer = principal({ [A]: 'viewer' });
    expect(can(viewer, 'experiment.read', theirs)).toBe('allow');
    expect(can(viewer, 'experiment.create', mine)).toBe('forbidden');
    expect(can(viewer, 'experiment.cancel', mine)).toBe('forbidden');
  });

  it("lets a member act on their own runs only, and never close", () => {
    const member = principal({ [A]: 'member' });
    expect(can(member, 'experiment.cancel', mine)).toBe('allow');
    expect(can(member, 'experiment.cancel', theirs)).toBe('forbidden');
    expect(forbiddenReason(member, 'experiment.cancel', theirs)).toBe('experiment.cancel: a member may only cancel an experiment they created');
    expect(can(member, 'sweep.close', mine)).toBe('forbidden');
    expect(forbiddenReason(member, 'sweep.close', mine)).toBe('sweep.close: your role member may not close a sweep, revealing its private scores (needs admin)');
  });

  it("lets an admin act on anyone's runs and close, unless the key is read-only", () => {
    expect(can(principal({ [A]: 'admin' }), 'experiment.cancel', theirs)).toBe('allow');
    expect(can(principal({ [A]: 'admin' }), 'sweep.close', theirs)).toBe('allow');
    const readOnly = principal({ [A]: 'admin' }, { scope: 'read' });
    expect(can(readOnly, 'sweep.close', theirs)).toBe('forbidden');
    expect(can(readOnly, 'sweep.read', theirs)).toBe('allow');
    expect(forbiddenReason(readOnly, 'sweep.close', theirs)).toBe('sweep.close: this API key is read-only (scope read)');
  });

  it('lets anonymous readers (AUTH_READS=open) read any project and nothing more', () => {
    const anonymous = principal({}, { via: 'anonymous', userId: null, scope: 'read' });
    expect(can(anonymous, 'volume.read', theirs)).toBe('allow');
    expect(can(anonymous, 'experiment.create', theirs)).toBe('forbidden');
  });

  it('gives every write action to the admin, and reads to every role', () => {
    for (const [action, rule] of Object.entries(ACTIONS)) {
      expect(rule.roles, action).toHaveProperty('admin', 'any');
      if (!rule.write && !/^(member|key|audit|webhook)\./.test(action)) expect(Object.keys(rule.roles).sort(), action).toEqual([...ROLES].sort());
    }
  });
});

describe('docs/security.md', () => {
  it('shows the table of actions by role exactly as the code has it', () => {
    const doc = readFileSync(path.join(REPO_ROOT, 'docs/security.md'), 'utf8');
    for (const [action, rule] of Object.entries(ACTIONS)) {
      const roles = ROLES.map((r) => (rule.roles as Record<string, string>)[r] ?? '—').join(' | ');
      expect(doc, action).toContain(`| \`${action}\` | ${rule.what} | ${rule.resource} | ${rule.write ? 'write' : 'read'} | ${roles} |`);
    }
  });
});
