// chart.js: the optimizer's scores over its iterations, as an SVG drawn by hand.

import { int, score } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 640, H = 240;
const M = { left: 56, right: 12, top: 12, bottom: 30 };
const MAX_DOTS = 2000;

function el(name, attrs = {}, text) {
	const e = document.createElementNS(SVG, name);
	for (const [k, v] of Object.entries(attrs))
		e.setAttribute(k, String(v));
	if (text !== undefined)
		e.textContent = text;
	return e;
}

// Points by iteration: {iteration, current, best}; a later report of an
// iteration replaces an earlier one.
export class ScoreChart {
	constructor(svg, summary) {
		this.svg = svg;
		this.summary = summary;
		this.points = new Map();
		this.total = null;
		this.svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
	}

	// One snapshot of the history, or a progress document.
	add(s) {
		if (s.step_number !== 2 || typeof s.current_iteration !== 'number' || s.current_iteration < 1)
			return false;
		if (typeof s.total_iterations === 'number' && s.total_iterations > 0)
			this.total = s.total_iterations;
		const p = {
			iteration: s.current_iteration,
			current: typeof s.current_score === 'number' ? s.current_score : null,
			best: typeof s.best_score === 'number' ? s.best_score : null,
		};
		if (p.current === null && p.best === null)
			return false;
		this.points.set(p.iteration, p);
		return true;
	}

	draw() {
		const svg = this.svg;
		while (svg.lastChild && svg.lastChild.nodeName !== 'title' && svg.lastChild.nodeName !== 'desc')
			svg.removeChild(svg.lastChild);
		const pts = [...this.points.values()].sort((a, b) => a.iteration - b.iteration);
		svg.toggleAttribute('hidden', pts.length === 0);
		if (pts.length === 0) {
			this.summary.textContent = 'No optimizer iterations yet.';
			return;
		}
		const values = pts.flatMap((p) => [p.current, p.best]).filter((v) => v !== null);
		let lo = Math.min(...values), hi = Math.max(...values);
		if (hi - lo < 1e-9) {
			lo -= 1;
			hi += 1;
		}
		const pad = (hi - lo) * 0.05;
		lo -= pad;
		hi += pad;
		const last = Math.max(this.total ?? 0, pts[pts.length - 1].iteration, 1);
		const x = (i) => M.left + (W - M.left - M.right) * (last === 1 ? 0.5 : (i - 1) / (last - 1));
		const y = (v) => M.top + (H - M.top - M.bottom) * (1 - (v - lo) / (hi - lo));

		svg.append(el('line', { class: 'axis', x1: M.left, y1: H - M.bottom, x2: W - M.right, y2: H - M.bottom }));
		svg.append(el('line', { class: 'axis', x1: M.left, y1: M.top, x2: M.left, y2: H - M.bottom }));
		svg.append(el('text', { x: M.left - 6, y: y(hi - pad) + 4, 'text-anchor': 'end' }, score(hi - pad)));
		svg.append(el('text', { x: M.left - 6, y: y(lo + pad) + 4, 'text-anchor': 'end' }, score(lo + pad)));
		svg.append(el('text', { x: M.left, y: H - 10, 'text-anchor': 'start' }, '1'));
		svg.append(el('text', { x: W - M.right, y: H - 10, 'text-anchor': 'end' }, int(last)));
		svg.append(el('text', { x: (M.left + W - M.right) / 2, y: H - 10, 'text-anchor': 'middle' }, 'iteration'));

		const step = Math.max(1, Math.ceil(pts.length / MAX_DOTS));
		const dots = el('g', { class: 'current' });
		pts.forEach((p, k) => {
			if (p.current !== null && (k % step === 0 || k === pts.length - 1))
				dots.append(el('circle', { cx: x(p.iteration).toFixed(1), cy: y(p.current).toFixed(1), r: 2.5 }));
		});
		svg.append(dots);

		// The best score so far, as a staircase.
		let d = '', prev = null;
		for (const p of pts) {
			if (p.best === null)
				continue;
			const px = x(p.iteration).toFixed(1), py = y(p.best).toFixed(1);
			d += prev === null ? `M${px},${py}` : `H${px}V${py}`;
			prev = p;
		}
		if (d !== '')
			svg.append(el('path', { class: 'best', d }));

		const lastPt = pts[pts.length - 1];
		const bestPt = pts.filter((p) => p.best !== null).pop();
		this.summary.textContent = `${pts.length} iterations charted, up to ${int(lastPt.iteration)}` +
		    (this.total ? ` of ${int(this.total)}` : '') +
		    (bestPt ? `; best score ${score(bestPt.best)}.` : '.');
	}
}
