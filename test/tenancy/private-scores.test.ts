// Issue 24, acceptance 2: before a close, no route shows a private-test score to anyone, the
// project's admin included (JSON routes, the event stream's snapshot, CSV downloads, prediction
// outputs); only a project admin closes, and then the scores show.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS } from '@capillary/api';
import { openEvents } from '../sse-client.ts';
import { PRIVATE, PROJECT_HEADER, buildWorld, startTenancyApi, type ProjectRows, type TenancyApi, type World } from './world.ts';
import { documentedRoutes, fillRequest, projectAction, type DocumentedRoute } from './requests.ts';

const VALUES = Object.values(PRIVATE).map(String);

/** Why `text` gives a private score away, or null. */
function leak(text: string): string | null {
  const value = VALUES.find((v) => text.includes(v));
  if (value) return `holds the private value ${value}`;
  const field = /"privateScore":\s*-?[0-9]/.exec(text);
  return field ? `answers ${field[0]}` : null;
}

describe('private scores before and after a close', () => {
  let api: TenancyApi;
  let world: World;
  let reads: DocumentedRoute[];
  const readers = ['admin', 'creator', 'viewer'] as const;

  beforeAll(async () => {
    api = await startTenancyApi();
    world = await buildWorld(api, 'private');
    // Every documented GET route of an action a viewer may do: every read of a project's rows.
    reads = (await documentedRoutes(api)).filter((r) => r.method === 'GET' && projectAction(r) !== null && 'viewer' in ACTIONS[projectAction(r)!].roles);
  });
  afterAll(async () => {
    await api?.close();
  });

  /** The project's rows seen through the lone experiment, then through the sweep's trial. */
  const views = (): ProjectRows[] => [world.A, { ...world.A, experimentId: world.A.trialId }];

  it.each(readers)('no JSON or CSV route shows a private score to the %s before the close', async (who) => {
    const answers: string[] = [];
    for (const rows of views()) {
      for (const route of reads) {
        const req = fillRequest(route, rows);
        const res = await api.send('GET', req.path, { key: world.people[who].key, headers: { [PROJECT_HEADER]: rows.project.name } });
        expect(res.status, `${req.path}: ${res.text.slice(0, 200)}`).toBeLessThan(400);
        const found = leak(res.text);
        expect(found, `GET ${req.path} as ${who} ${found}`).toBeNull();
        answers.push(req.path);
      }
      for (const extra of [`/experiments?sweepId=${rows.sweepId}`, `/leaderboard?sweepId=${rows.sweepId}`]) {
        const res = await api.send('GET', extra, { key: world.people[who].key, headers: { [PROJECT_HEADER]: rows.project.name } });
        expect(res.status).toBe(200);
        expect(leak(res.text), `GET ${extra} as ${who}`).toBeNull();
      }
    }
    // The routes the issue names are among those read.
    for (const p of ['/experiments', `/experiments/${world.A.experimentId}`, `/experiments/${world.A.trialId}`, '/leaderboard', `/sweeps/${world.A.sweepId}`, `/predictions/${world.A.predictionId}`, `/predictions/${world.A.predictionId}/submission.csv`, `/experiments/${world.A.experimentId}/predictions`]) {
      expect(answers.some((a) => a === p || a.startsWith(`${p}?`)), p).toBe(true);
    }
    // The prediction keeps its private volume's mask, without the scores.
    const prediction = await api.send('GET', `/predictions/${world.A.predictionId}`, { key: world.people[who].key });
    expect(prediction.body.outputs.map((o: { role: string; surfaceDice: number | null; dice: number | null }) => [o.role, o.surfaceDice, o.dice])).toEqual([['train', 0.5, 0.5], ['private_test', null, null]]);
  });

  it.each(readers)("the event stream's snapshot shows no private score to the %s", async (who) => {
    for (const id of [world.A.experimentId, world.A.trialId]) {
      const stream = await openEvents(`${api.url}/experiments/${id}/events`, { authorization: `Bearer ${world.people[who].key}` });
      expect(stream.status).toBe(200);
      // Succeeded runs: the snapshot, then the end of the stream.
      await stream.ended;
      expect(stream.events.map((e) => e.event)).toEqual(['snapshot']);
      expect(leak(JSON.stringify(stream.events)), `events of ${id} as ${who}`).toBeNull();
    }
  });

  it('only the project admin closes: the creator and a viewer are refused, then the scores show', async () => {
    const { A, people } = world;
    for (const who of ['creator', 'member', 'viewer'] as const) {
      const lone = await api.send('POST', `/experiments/${A.experimentId}/close`, { key: people[who].key });
      const sweep = await api.send('POST', `/sweeps/${A.sweepId}/close`, { key: people[who].key });
      expect([who, lone.status, sweep.status]).toEqual([who, 403, 403]);
    }
    // Refused closes changed nothing.
    const still = await api.send('GET', `/experiments/${A.experimentId}`, { key: people.admin.key });
    expect([still.body.privateRevealed, still.body.closedAt]).toEqual([false, null]);

    expect((await api.send('POST', `/experiments/${A.experimentId}/close`, { key: people.admin.key })).status).toBe(200);
    expect((await api.send('POST', `/sweeps/${A.sweepId}/close`, { key: people.admin.key })).status).toBe(200);

    for (const who of readers) {
      const key = people[who].key;
      const lone = await api.send('GET', `/experiments/${A.experimentId}`, { key });
      const trial = await api.send('GET', `/experiments/${A.trialId}`, { key });
      expect([lone.body.privateScore, trial.body.privateScore]).toEqual([PRIVATE.lone, PRIVATE.trial]);
      const board = await api.send('GET', '/leaderboard', { key, headers: { [PROJECT_HEADER]: A.project.name } });
      const privateOf = (id: string) => board.body.rows.find((r: { experimentId: string }) => r.experimentId === id)?.privateScore;
      expect([privateOf(A.experimentId), privateOf(A.trialId)]).toEqual([PRIVATE.lone, PRIVATE.trial]);
      const prediction = await api.send('GET', `/predictions/${A.predictionId}`, { key });
      expect(prediction.body.outputs[1]).toMatchObject({ role: 'private_test', surfaceDice: PRIVATE.outputSurfaceDice, dice: PRIVATE.outputDice });
    }
  });
});
