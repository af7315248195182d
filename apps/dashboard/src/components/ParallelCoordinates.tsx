import { useEffect, useRef } from 'preact/hooks';
// Tree-shaken ECharts: only the parallel series, its axes, the colour scale and the canvas renderer.
// uPlot draws x/y series only; parallel coordinates need one axis per parameter.
import * as echarts from 'echarts/core';
import { ParallelChart } from 'echarts/charts';
import { ParallelComponent, VisualMapComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([ParallelChart, ParallelComponent, VisualMapComponent, TooltipComponent, CanvasRenderer]);

export interface Axis {
  name: string;
  /** Category axes list their values; numeric ones may be log-scaled. */
  categories?: string[];
  log?: boolean;
}

interface Props {
  axes: Axis[];
  /** One line per trial: a value per axis, the last axis being the score. */
  lines: { id: string; values: (number | string | null)[] }[];
  onPick?: (id: string) => void;
}

/**
 * Parameters against score, one polyline per trial, coloured by score (the last axis). Trials
 * without a score are drawn grey at the bottom of the score axis.
 */
export function ParallelCoordinates({ axes, lines, onPick }: Props) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const chart = echarts.init(host.current!, undefined, { renderer: 'canvas' });
    const scores = lines.map((l) => l.values[l.values.length - 1]).filter((v): v is number => typeof v === 'number');
    chart.setOption({
      animation: false,
      tooltip: { trigger: 'item', formatter: (p: { dataIndex: number }) => `trial ${lines[p.dataIndex]?.id.slice(0, 8) ?? ''}` },
      parallelAxis: axes.map((a, dim) =>
        a.categories ? { dim, name: a.name, type: 'category', data: a.categories } : { dim, name: a.name, type: a.log ? 'log' : 'value', scale: true },
      ),
      parallel: { left: 40, right: 60, top: 30, bottom: 30 },
      visualMap: { show: true, dimension: axes.length - 1, min: Math.min(0, ...scores), max: Math.max(0.01, ...scores), inRange: { color: ['#d94e5d', '#eac736', '#50a3ba'].reverse() }, right: 0, top: 'middle', calculable: false, itemHeight: 120 },
      series: [{ type: 'parallel', lineStyle: { width: 2, opacity: 0.7 }, data: lines.map((l) => l.values.map((v) => (v === null ? 0 : v))) }],
    });
    if (onPick) chart.on('click', (p) => lines[p.dataIndex] && onPick(lines[p.dataIndex].id));
    const resize = new ResizeObserver(() => chart.resize());
    resize.observe(host.current!);
    return () => {
      resize.disconnect();
      chart.dispose();
    };
  }, [JSON.stringify(axes), JSON.stringify(lines)]);
  return <div class="parallel" ref={host} data-chart="parallel" data-lines={lines.length} data-axes={axes.map((a) => a.name).join(',')} />;
}
