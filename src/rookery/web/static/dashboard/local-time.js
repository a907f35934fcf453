// Stored instants reach the page in UTC (the server does not know the reader's time zone);
// here they are rewritten in the reader's own zone, as ISO-like dates like the rest of the page.
// Without scripts the page still reads, in UTC.
"use strict";
const wallClock = new Intl.DateTimeFormat("sv-SE", {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});
const zoneName = (style, at) => new Intl.DateTimeFormat(undefined, { timeZoneName: style })
  .formatToParts(at).find((part) => part.type === "timeZoneName")?.value ?? "";
for (const element of document.querySelectorAll("time[data-local]")) {
  const at = new Date(element.dateTime);
  const local = wallClock.format(at);
  element.textContent = element.dataset.local === "compact" ? local : `${local} ${zoneName("short", at)}`;
}
// Compact instants leave the zone to their column's heading, named without its DST season.
for (const element of document.querySelectorAll("[data-local-zone]")) {
  element.textContent = `(${zoneName("shortGeneric", new Date())})`;
}
