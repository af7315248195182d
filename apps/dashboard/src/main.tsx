import { render } from 'preact';
import { App } from './App.tsx';
import { interceptLinks } from './router.ts';
import './styles.css';

const root = document.getElementById('app')!;
interceptLinks(root);
render(<App />, root);
