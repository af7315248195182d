import { useEffect, useState } from 'preact/hooks';
import { href, match, useLocation } from './router.ts';
import { forgetApiKey, onKeyRequest, storedApiKey, askForApiKey } from './api-key.ts';
import { KeyDialog } from './components/KeyDialog.tsx';
import { lazy, Suspense } from 'preact/compat';
import { LeaderboardPage } from './pages/LeaderboardPage.tsx';

// The leaderboard is the landing page and comes in the main bundle; the others (charts, forms,
// viewer) load when first opened, so the first page parses less.
const ExperimentPage = lazy(() => import('./pages/ExperimentPage.tsx').then((m) => m.ExperimentPage));
const PredictionsPage = lazy(() => import('./pages/PredictionsPage.tsx').then((m) => m.PredictionsPage));
const QueuePage = lazy(() => import('./pages/QueuePage.tsx').then((m) => m.QueuePage));
const SweepPage = lazy(() => import('./pages/SweepPage.tsx').then((m) => m.SweepPage));

const NAV = [
  { path: '/', label: 'Leaderboard' },
  { path: '/queue', label: 'Queue' },
  { path: '/predictions', label: 'Predictions' },
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
  else page = <p class="empty">No page here. <a href={href('/')}>Back to the leaderboard</a>.</p>;

  useEffect(() => {
    document.title = `Capillary · ${NAV.find((n) => n.path === loc.path)?.label ?? (experiment ? 'Experiment' : sweep ? 'Sweep' : 'Dashboard')}`;
  }, [loc.path]);

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
        <KeyStatus />
        <a href="/docs">API docs</a>
      </nav>
      <main>
        <Suspense fallback={<p class="muted">Loading…</p>}>{page}</Suspense>
      </main>
      <KeyDialog />
    </>
  );
}

function KeyStatus() {
  const [has, setHas] = useState(!!storedApiKey());
  useEffect(() => onKeyRequest(() => setHas(!!storedApiKey())), []);
  return has ? (
    <button type="button" class="link" onClick={forgetApiKey} title="Forget the API key kept in this browser">
      forget API key
    </button>
  ) : (
    <button type="button" class="link" onClick={() => askForApiKey('Enter an API key for queueing and cancelling runs.').catch(() => {})}>
      set API key
    </button>
  );
}
