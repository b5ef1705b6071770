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
        source.select?.();
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
});
