// The dashboard is a Vite app; these are its pure helpers, importable by tests and benchmarks.
export { composeOverlay, sliceDice, COLORS } from './viewer/overlay.ts';
export { filterRows, sortRows, groupBySweep, columnFilter } from './leaderboard/table-model.ts';
export { COLUMNS, HIDDEN_PRIVATE } from './leaderboard/columns.ts';
export { issueTarget, specFromForm, gridFromForm } from './forms/spec-fields.ts';
