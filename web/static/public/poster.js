// The poster's Print button (CSP forbids inline handlers).
document.getElementById("print-poster")?.addEventListener("click", () => window.print());
