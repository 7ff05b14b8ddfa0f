// How figures are written: one place, so every view says "1.2 k/s" the same way.

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export const DASH = '—';

export function count(value) {
  return value === null || value === undefined ? DASH : integer.format(value);
}

/** "1 run", "3 runs": a count with its noun, plural but for exactly one. */
export function counted(value, noun, plural = `${noun}s`) {
  return `${count(value)} ${value === 1 ? noun : plural}`;
}

export function percent(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return DASH;
  return `${value.toFixed(digits)} %`;
}

export function ratio(value) {
  return value === null || value === undefined ? DASH : percent(value * 100);
}

export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined) return DASH;
  if (perSecond >= 10_000) return `${oneDecimal.format(perSecond / 1000)} k/s`;
  return `${perSecond >= 10 ? integer.format(perSecond) : oneDecimal.format(perSecond)} /s`;
}

/** 42 s, 3 min 05 s, 2 h 07 min, 3 d 4 h. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  if (seconds < 10) return `${Math.max(seconds, 0).toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min ${String(whole % 60).padStart(2, '0')} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function bytes(value) {
  if (value === null || value === undefined) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size >= 100 || unit === 0 ? integer.format(size) : oneDecimal.format(size)} ${units[unit]}`;
}

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

/** A moment in local time: the time alone when it is today. */
export function when(iso) {
  if (!iso) return DASH;
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return DASH;
  const today = new Date();
  return moment.toDateString() === today.toDateString() ? timeOnly.format(moment) : dateTime.format(moment);
}

/** The current step: "load (2 of 3)". */
export function step(info) {
  if (!info) return DASH;
  const position = info.index !== null && info.index !== undefined && info.count
    ? ` (${info.index + 1} of ${info.count})` : '';
  return `${info.name}${position}`;
}

export function label(text) {
  return text ? text.replaceAll('_', ' ') : DASH;
}
