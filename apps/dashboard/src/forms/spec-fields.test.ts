import { describe, expect, it } from 'vitest';
import { gridFromForm, gridSize, issueTarget, issuesByTarget, specFromForm } from './spec-fields.ts';

describe('submit form helpers', () => {
  it('sends numbers as numbers, leaves what does not read as a number for the API to name', () => {
    expect(specFromForm({ epochs: '19', lr: '6e-4', name: 'x', augmentationP: '', axes: 'xy,yz', batchSize: 'four' })).toEqual({ epochs: 19, lr: 0.0006, name: 'x', axes: ['xy', 'yz'], batchSize: 'four' });
  });

  it('reads a grid of comma-separated values and counts the runs', () => {
    const grid = gridFromForm({ lr: '1e-3, 6e-4', epochs: '16,19,27', model: 'unet', notes: 'ignored' });
    expect(grid).toEqual({ lr: [0.001, 0.0006], epochs: [16, 19, 27], model: ['unet'] });
    expect(gridSize(grid)).toBe(6);
  });

  it('puts each API issue under its field', () => {
    expect(issueTarget('body/epochs')).toBe('epochs');
    expect(issueTarget('/slices')).toBe('slices');
    expect(issueTarget('body/base/lr')).toBe('base.lr');
    expect(issueTarget('body/grid/lr/1')).toBe('grid.lr');
    expect(issueTarget('/grid')).toBe('grid');
    expect(issueTarget('/experiments/3/slices', ['slices'])).toBe('grid.slices');
    expect(issueTarget('/experiments/3/slices', [])).toBe('base.slices');
    const by = issuesByTarget([{ field: 'body/epochs', message: 'must be integer' }, { field: 'body/whatever', message: 'odd' }], new Set(['epochs']));
    expect(by.get('epochs')).toEqual(['must be integer']);
    expect(by.get('')).toEqual(['body/whatever odd']);
  });
});
