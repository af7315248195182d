import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

interface Props {
  title: string;
  xLabel: string;
  /** Points (x, score); categorical x values come as indices into `categories`. */
  points: { x: number; y: number }[];
  categories?: string[];
  log?: boolean;
  height?: number;
}

/** Score against one parameter: uPlot with points and no lines (x sorted, as uPlot wants). */
export function ScatterChart({ title, xLabel, points, categories, log, height = 200 }: Props) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current!;
    const sorted = [...points].sort((a, b) => a.x - b.x);
    const opts: uPlot.Options = {
      title,
      width: Math.max(260, (el.clientWidth || 320) - 12),
      height,
      scales: { x: { time: false, ...(log ? { distr: 3 } : {}), ...(categories ? { range: [-0.5, categories.length - 0.5] } : {}) } },
      axes: [
        { label: xLabel, ...(categories ? { splits: () => categories.map((_, i) => i), values: () => categories } : {}) },
        { label: 'surface Dice' },
      ],
      legend: { show: false },
      series: [{ label: xLabel }, { label: 'score', stroke: '#2c7fb8', fill: '#2c7fb8', width: 0, paths: () => null, points: { show: true, size: 8, fill: '#2c7fb8' } }],
    };
    const p = new uPlot(opts, [sorted.map((s) => s.x), sorted.map((s) => s.y)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => p.setSize({ width: Math.max(260, el.clientWidth - 12), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      p.destroy();
    };
  }, [JSON.stringify(points), title]);
  return <div class="chart" ref={host} data-chart={title} data-points={points.length} />;
}
