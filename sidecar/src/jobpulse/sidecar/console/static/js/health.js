// A job's health grade, from its error rate and its speed. The one place the rule lives; docs/console.md
// states it in words, and a server-side grade must follow the same thresholds.

export const GRADES = ['excellent', 'good', 'fair', 'poor'];

// failed / processed at or below each limit: excellent, good, fair; above the last: poor.
export const ERROR_RATE_LIMITS = [0.001, 0.01, 0.05];

// Projected duration / expected duration at or below each limit: excellent, good, fair; above: poor.
export const PACE_LIMITS = [1.0, 1.2, 1.5];

const ENDED_BADLY = new Set(['failed', 'lost']);

function classify(value, limits) {
  const index = limits.findIndex((limit) => value <= limit);
  return index === -1 ? GRADES.length - 1 : index;
}

/**
 * The grade of a job (a JobSummary, or the console's merged view of one) and why:
 * `{grade, reasons}`, or null when there is nothing to judge yet.
 *
 * - failed or lost: poor.
 * - error rate: failed / processed, once something was processed.
 * - speed: with an expected duration, the projected duration (elapsed + ETA while running, elapsed once
 *   ended; elapsed alone while the ETA is unknown) over the expected one. Without one, a running job
 *   that processed records before but moves no more (rate 0) is fair at best.
 * The grade is the worse of the two.
 */
export function healthGrade(job) {
  if (ENDED_BADLY.has(job.status)) {
    return { grade: 'poor', reasons: [`the job ${job.status === 'lost' ? 'was lost' : 'failed'}`] };
  }
  const marks = [];
  const reasons = [];
  if (job.processed > 0) {
    const errorRate = (job.failed ?? 0) / job.processed;
    marks.push(classify(errorRate, ERROR_RATE_LIMITS));
    reasons.push(`${(errorRate * 100).toFixed(2)} % of records failed`);
  }
  const elapsed = job.execution_time_s;
  if (job.expected_duration_s > 0 && elapsed !== null && elapsed !== undefined) {
    const running = job.status === 'running' || job.status === 'paused';
    const projected = running && job.eta_s !== null && job.eta_s !== undefined ? elapsed + job.eta_s : elapsed;
    const pace = projected / job.expected_duration_s;
    marks.push(classify(pace, PACE_LIMITS));
    reasons.push(`${running ? 'on course for' : 'took'} ${Math.round(pace * 100)} % of its expected duration`);
  } else if (job.status === 'running' && job.processed > 0 && job.rate_per_s === 0) {
    marks.push(GRADES.indexOf('fair'));
    reasons.push('not advancing');
  }
  if (marks.length === 0) return null;
  return { grade: GRADES[Math.max(...marks)], reasons };
}
