import { useEffect } from 'preact/hooks';
import { href, match, useLocation } from './router.ts';
import { askToSignIn, chooseProjectByName, signOut, useSession, type SessionState } from './session.ts';
import { SignIn } from './components/SignIn.tsx';
import { lazy, Suspense } from 'preact/compat';
import { LeaderboardPage } from './pages/LeaderboardPage.tsx';

// The leaderboard is the landing page and comes in the main bundle; the others (charts, forms,
// viewer) load when first opened, so the first page parses less.
const ExperimentPage = lazy(() => import('./pages/ExperimentPage.tsx').then((m) => m.ExperimentPage));
const PredictionsPage = lazy(() => import('./pages/PredictionsPage.tsx').then((m) => m.PredictionsPage));
const QueuePage = lazy(() => import('./pages/QueuePage.tsx').then((m) => m.QueuePage));
const SweepPage = lazy(() => import('./pages/SweepPage.tsx').then((m) => m.SweepPage));
const UsagePage = lazy(() => import('./pages/UsagePage.tsx').then((m) => m.UsagePage));

const NAV = [
  { path: '/', label: 'Leaderboard' },
  { path: '/queue', label: 'Queue' },
  { path: '/predictions', label: 'Predictions' },
  { path: '/usage', label: 'Usage' },
];

export function App() {
  const loc = useLocation();
  const experiment = match('/experiments/:id', loc.path);
  const sweep = match('/sweeps/:id', loc.path);
  let page;
  if (loc.path === '/' || loc.path === '/leaderboard') page = <LeaderboardPage />;
  else if (experiment) page = <ExperimentPage key={experiment.id} id={experiment.id} />;
  else if (sweep) page = <SweepPage key={sweep.id} id={sweep.id} />;
  else if (loc.path === '/predictions') page = <PredictionsPage loc={loc} />;
  else if (loc.path === '/queue') page = <QueuePage />;
  else if (loc.path === '/usage') page = <UsagePage />;
  else page = <p class="empty">No page here. <a href={href('/')}>Back to the leaderboard</a>.</p>;

  useEffect(() => {
    document.title = `Capillary · ${NAV.find((n) => n.path === loc.path)?.label ?? (experiment ? 'Experiment' : sweep ? 'Sweep' : 'Dashboard')}`;
  }, [loc.path]);

  const s = useSession();
  // Reads need a session unless the API lets anyone read (AUTH_READS=open); then an action that
  // needs one asks for it.
  const gate = !s.known ? <p class="muted">Loading…</p> : !s.me && (s.config?.authReads !== 'open' || s.signInReason) ? <SignIn reason={s.signInReason} /> : null;

  return (
    <>
      <nav class="top">
        <a class="brand" href={href('/')}>
          Capillary
        </a>
        {NAV.map((n) => (
          <a key={n.path} href={href(n.path)} aria-current={loc.path === n.path ? 'page' : undefined}>
            {n.label}
          </a>
        ))}
        <span class="spacer" />
        <Account s={s} />
        <a href="/docs">API docs</a>
      </nav>
      {/* A project switch remounts the pages, so every list is fetched again for the new project. */}
      <main key={s.me ? `${s.me.user.id}/${s.project}` : 'anonymous'}>{gate ?? <Suspense fallback={<p class="muted">Loading…</p>}>{page}</Suspense>}</main>
    </>
  );
}

/** The signed-in user, their project switcher and signing out; or a way to sign in. */
function Account({ s }: { s: SessionState }) {
  if (!s.known) return null;
  if (!s.me) {
    return s.config?.authReads === 'open' ? (
      <button type="button" class="link" onClick={() => askToSignIn('Sign in to queue and act on runs.')} data-testid="sign-in-link">
        sign in
      </button>
    ) : null;
  }
  const role = s.me.projects.find((p) => p.name === s.project)?.role;
  return (
    <>
      {s.me.projects.length > 0 && (
        <label class="project-switcher">
          project{' '}
          <select data-testid="project-switcher" value={s.project ?? ''} onChange={(e) => chooseProjectByName((e.target as HTMLSelectElement).value)}>
            {s.me.projects.map((p) => (
              <option key={p.id} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>{' '}
          <span class="badge" data-testid="role">{role ?? 'no role'}</span>
        </label>
      )}
      <span class="user" data-testid="user-name">{s.me.user.name}</span>
      <button type="button" class="link" onClick={() => void signOut()} data-testid="sign-out">
        sign out
      </button>
    </>
  );
}
