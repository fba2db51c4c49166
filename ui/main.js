// The status window. Server-provided strings are only ever set as textContent, never as HTML.
const status = document.getElementById("status");
status.textContent = "Waiting for the connection…";
