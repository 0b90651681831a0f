// Two incident views as tabs; without JavaScript both sections simply show one after another.
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.querySelector("[data-tabs]");
  if (!bar) return;
  const show = (name) => {
    for (const b of bar.querySelectorAll("button")) b.classList.toggle("active", b.dataset.tab === name);
    for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== "tab-" + name;
  };
  bar.addEventListener("click", (e) => { if (e.target.dataset.tab) show(e.target.dataset.tab); });
  show("engineer");
});
