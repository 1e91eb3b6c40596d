// Entry point: reads the profile embedded in the page (<script id="scalene-data">), and shows
// it, or shows why it cannot: an error from `scalene view` ("scalene_view_error"), missing
// data, text that is not JSON, or JSON that is not a profile. Never a blank page.
import { App } from "./app";
import { buildProfile, parseProfileText, ProfileError } from "./model";
import { esc } from "./util";

function showError(title: string, message: string, hint: string): void {
  const app = document.getElementById("app") ?? document.body;
  document.title = "Scalene: " + title;
  app.innerHTML =
    `<div class="error-page" role="alert" id="scalene-error">` +
    `<div class="error-brand">Scalene</div>` +
    `<h1>${esc(title)}</h1>` +
    `<pre class="error-message">${esc(message)}</pre>` +
    (hint ? `<p class="error-hint">${hint}</p>` : "") +
    `</div>`;
  document.body.dataset.state = "error";
}

function boot(): void {
  const holder = document.getElementById("scalene-data");
  if (!holder) {
    showError("No profile in this page",
      "This page holds no profile data (it is the viewer's template).",
      "Open a profile with <code>scalene view profile.json</code>, or write a page with " +
      "<code>scalene view --standalone profile.json</code>.");
    return;
  }
  let raw: unknown;
  performance.mark("scalene:start");
  try {
    raw = parseProfileText(holder.textContent ?? "");
    performance.mark("scalene:parsed");
  } catch (e) {
    showError("This profile cannot be shown", (e as Error).message,
      "The file is damaged or not a profile. A run that was killed before it finished " +
      "writes no profile; run <code>scalene run</code> again.");
    return;
  }
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw) &&
      typeof (raw as Record<string, unknown>)["scalene_view_error"] === "string") {
    showError("This profile cannot be shown", (raw as Record<string, string>)["scalene_view_error"], "");
    return;
  }
  let prof;
  try {
    prof = buildProfile(raw);
  } catch (e) {
    if (e instanceof ProfileError) {
      showError("This profile cannot be shown", e.message,
        "The JSON is not a profile written by <code>scalene run</code> or by Scalene.");
      return;
    }
    throw e;
  }
  performance.mark("scalene:model");
  new App(document.getElementById("app")!, prof, raw).mount();
  performance.mark("scalene:rendered");
  document.body.dataset.state = "ready";
}

try {
  boot();
} catch (e) {
  // A bug in the viewer: say so instead of leaving a half-drawn or blank page.
  const err = e as Error;
  showError("The viewer failed", `${err.name}: ${err.message}`,
    "This is a bug in the viewer; <code>scalene view --cli</code> shows the profile in a terminal.");
}
