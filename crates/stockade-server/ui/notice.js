// The page of a refused (403) or missing (404) address.
import { h, card } from "./dom.js";
import { currentSession, frame } from "./api.js";

async function main() {
  const denied = document.body.dataset.page === "denied";
  const s = await currentSession().catch(() => null);
  const main = s ? await frame(denied ? "Not allowed" : "Not found") : document.getElementById("main");
  main.append(card(denied ? "Not allowed" : "Not found",
    h("p", { id: "notice" }, denied
      ? `The role ${s ? s.role : "you signed in with"} does not hold the permission this page needs.`
      : "There is no such page."),
    h("p", {}, h("a", { href: "/ui/runs" }, "Back to the runs"))));
}

main();
