// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="#element-id">.
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      const text = source.value !== undefined ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text.trim());
        button.textContent = button.dataset.copiedLabel || "Copied";
      } catch (error) {
        // No clipboard (a page served over plain HTTP): select the text for the reader to copy.
        if (source.select) {
          source.select();
        } else {
          window.getSelection().selectAllChildren(source);
        }
      }
    });
  });
  // The organization switcher submits itself when a new organization is picked.
  document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
  // Buttons that ask before a destructive action: <button data-confirm="Sure?">.
  document.querySelectorAll("[data-confirm]").forEach((element) => {
    element.addEventListener("click", (event) => {
      if (!window.confirm(element.dataset.confirm)) event.preventDefault();
    });
  });
  // The user menu closes on a click outside it and on Escape, as a menu does.
  const userMenu = document.querySelector("details.usermenu");
  if (userMenu) {
    document.addEventListener("click", (event) => {
      if (userMenu.open && !userMenu.contains(event.target)) userMenu.open = false;
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && userMenu.open) {
        userMenu.open = false;
        userMenu.querySelector("summary").focus();
      }
    });
  }
  document.querySelectorAll("[data-chart]").forEach(chartTooltips);
});

// A chart's tooltip: each column's hit area carries data-tip, {"title", "rows": [[label, value, css]],
// "total": [label, value] | null}; the tooltip follows the pointer or the focused column.
function chartTooltips(wrap) {
  const tooltip = wrap.querySelector(".chart-tooltip");
  let active = null;
  const show = (column) => {
    const tip = JSON.parse(column.dataset.tip);
    const list = document.createElement("dl");
    for (const [label, value, css] of tip.rows) {
      const term = document.createElement("dt");
      const swatch = document.createElement("i");
      swatch.className = `swatch ${css}`;
      term.append(swatch, label);
      const detail = document.createElement("dd");
      detail.textContent = value;
      list.append(term, detail);
    }
    if (tip.total) {
      const term = document.createElement("dt");
      term.className = "total";
      term.textContent = tip.total[0];
      const detail = document.createElement("dd");
      detail.className = "total";
      detail.textContent = tip.total[1];
      list.append(term, detail);
    }
    const title = document.createElement("strong");
    title.textContent = tip.title;
    tooltip.replaceChildren(title, list);
    tooltip.hidden = false;
    active?.classList.remove("active");
    active = column;
    column.classList.add("active");
    // Beside the column, kept inside the chart's box.
    const box = wrap.getBoundingClientRect();
    const bar = column.getBoundingClientRect();
    const width = tooltip.offsetWidth;
    let left = bar.right - box.left + 8;
    if (left + width > box.width) left = bar.left - box.left - width - 8;
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = "8px";
  };
  const hide = () => {
    tooltip.hidden = true;
    active?.classList.remove("active");
    active = null;
  };
  wrap.querySelectorAll(".column-hit").forEach((column) => {
    column.addEventListener("mouseenter", () => show(column));
    column.addEventListener("focus", () => show(column));
    column.addEventListener("blur", hide);
  });
  wrap.querySelector("svg").addEventListener("mouseleave", hide);
}
