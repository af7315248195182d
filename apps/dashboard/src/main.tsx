import { render } from 'preact';
import { App } from './App.tsx';
import { BASE, interceptLinks } from './router.ts';
import { fetchNamedSlice } from './viewer/page-tiles.ts';
import { preloadBoard } from './pages/LeaderboardPage.tsx';
import { loadSession } from './session.ts';
import './styles.css';

// Data first: requests the landing page needs go out before the first render, beside the
// question of who is signed in (a signed-in reload, the usual case, then waits for nothing).
void loadSession();
if (location.pathname === `${BASE}/predictions`) fetchNamedSlice(new URLSearchParams(location.search));
if (location.pathname === '/' || location.pathname === `${BASE}/leaderboard`) preloadBoard();
const root = document.getElementById('app')!;
interceptLinks(root);
render(<App />, root);
