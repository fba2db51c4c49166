// Turning numbers into words for people. Pure functions, no DOM.

/** Seconds as "1:02:03" or "4:05". */
export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const total = Math.floor(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** A length of time as "45 s", "12 min", "2 h 5 min", "3 d". */
export function span(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(s / 3600);
  const restMin = Math.round((s % 3600) / 60);
  if (h < 24) return restMin ? `${h} h ${restMin} min` : `${h} h`;
  return `${Math.round(s / 86400)} d`;
}

/** A moment as "just now", "5 min ago", "3 h ago", "2 d ago", or a date when older. */
export function ago(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return "unknown";
  const seconds = Math.max(0, (now - ms) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 7 * 86400) return `${span(seconds)} ago`;
  return new Date(ms).toLocaleDateString();
}

/** A local time of day, "14:30", with the weekday when it is not today. */
export function moment(ms, now = Date.now()) {
  const date = new Date(ms);
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = new Date(now);
  if (date.toDateString() === today.toDateString()) return time;
  const tomorrow = new Date(now);
  tomorrow.setDate(tomorrow.getDate() + 1);
  if (date.toDateString() === tomorrow.toDateString()) return `tomorrow ${time}`;
  return `${date.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })} ${time}`;
}

/** "1 connection" / "3 connections". */
export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

/** A serde `Duration` ({secs, nanos}) or plain seconds, in seconds. */
export function durationSeconds(value) {
  if (typeof value === "number") return value;
  if (value && typeof value === "object" && Number.isFinite(value.secs)) {
    return value.secs + (Number.isFinite(value.nanos) ? value.nanos / 1e9 : 0);
  }
  return NaN;
}

/** A snake_case key as a sentence: "rate_window_s" -> "Rate window s". */
export function humanize(key) {
  const words = String(key).replace(/_/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
