#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader so users need no build step.
import { register } from 'tsx/esm/api';
register();
await import('../src/main.ts');
