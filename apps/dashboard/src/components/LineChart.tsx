import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  color: string;
  values: (number | null)[];
}

interface Props {
  title: string;
  x: number[];
  series: Series[];
  xLabel?: string;
  height?: number;
  yRange?: [number, number];
}

/**
 * A uPlot line chart that keeps its instance across updates: new epochs arriving over SSE only
 * replace the data, so the chart does not flicker or lose the cursor.
 */
export function LineChart({ title, x, series, xLabel = 'epoch', height = 220, yRange }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = host.current!;
    const opts: uPlot.Options = {
      title,
      width: Math.max(280, (el.clientWidth || 480) - 12),
      height,
      scales: { x: { time: false }, ...(yRange ? { y: { range: yRange } } : {}) },
      // Epochs are whole numbers: no ticks at 1.1, 1.2...
      axes: [{ label: xLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, {}],
      series: [{ label: xLabel }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: true, size: 5 }, spanGaps: true }))],
    };
    const p = new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    plot.current = p;
    const resize = new ResizeObserver(() => p.setSize({ width: Math.max(280, el.clientWidth - 12), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      p.destroy();
      plot.current = null;
    };
  }, [shape, title, height]);

  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [x, series]);

  return <div class="chart" ref={host} data-chart={title} data-points={x.length} />;
}
