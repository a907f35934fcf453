// Stored instants reach the page in UTC (the server does not know the reader's time zone);
// here they are rewritten in the reader's own zone. Without scripts the page still reads, in UTC.
"use strict";
const localTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
  hourCycle: "h23", timeZoneName: "short",
});
for (const element of document.querySelectorAll("time[data-local]")) {
  element.title = element.textContent;
  element.textContent = localTime.format(new Date(element.dateTime));
}
