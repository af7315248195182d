import type { LineageGraph } from '../sweep/sweep-model.ts';

const LANE = 26;
const LEFT = 90;
const WIDTH = 640;

/**
 * PBT's lineage: each member a lane along the epochs, each exploit an arrow from the donor's lane
 * at the copied epoch to the member's lane at the interval (hover: what changed). Plain SVG: a
 * handful of lanes and arrows need no chart library.
 */
export function LineageChart({ graph }: { graph: LineageGraph }) {
  const x = (epoch: number) => LEFT + (epoch / graph.maxEpoch) * (WIDTH - LEFT - 20);
  const y = (lane: number) => 20 + lane * LANE;
  const height = y(graph.lanes.length) + 10;
  return (
    <svg class="lineage" data-testid="lineage" width={WIDTH} height={height} viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label="population lineage">
      <defs>
        <marker id="lineage-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#e6550d" />
        </marker>
      </defs>
      {Array.from({ length: graph.maxEpoch + 1 }, (_, e) => (
        <text key={`e${e}`} x={x(e)} y={height - 1} font-size="10" text-anchor="middle" fill="#888">{e}</text>
      ))}
      {graph.lanes.map((l) => (
        <g key={l.id} data-lane={l.id}>
          <text x={4} y={y(l.lane) + 4} font-size="11">{l.label}</text>
          <line x1={x(0)} y1={y(l.lane)} x2={x(l.epochs)} y2={y(l.lane)} stroke="#2c7fb8" stroke-width="2" />
        </g>
      ))}
      {graph.arrows.map((a) => (
        <line key={`${a.to}-${a.epoch}`} data-exploit={`${a.to}@${a.epoch}`} x1={x(a.fromEpoch)} y1={y(a.fromLane)} x2={x(a.epoch) + 6} y2={y(a.toLane)} stroke="#e6550d" stroke-width="1.5" marker-end="url(#lineage-head)">
          <title>{`epoch ${a.epoch}: copied from ${graph.lanes[a.fromLane].label} (epoch ${a.fromEpoch}); ${a.change}`}</title>
        </line>
      ))}
    </svg>
  );
}
