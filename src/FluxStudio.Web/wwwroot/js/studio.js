// Small browser helpers for the studio's pages: remembered form values, the Ctrl+Enter shortcut, downloads.
window.fluxStudio = (() => {
    const prefix = "fluxstudio.";

    function load(key) {
        try {
            return window.localStorage.getItem(prefix + key);
        } catch {
            // Storage can be switched off (private windows, strict settings): the page then simply forgets.
            return null;
        }
    }

    function save(key, value) {
        try {
            if (value === null || value === undefined) window.localStorage.removeItem(prefix + key);
            else window.localStorage.setItem(prefix + key, value);
        } catch {
            // See load: a full or disabled storage only means the values are not remembered.
        }
    }

    function isVisible(element) {
        return !!element && element.offsetParent !== null;
    }

    // Ctrl+Enter (Cmd+Enter on a Mac) presses the visible primary button of the open tab, as in A1111 and ComfyUI.
    // The field being edited is committed first, so the value just typed is the one used.
    document.addEventListener("keydown", event => {
        if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.isComposing) return;
        const button = [...document.querySelectorAll("[data-shortcut=ctrl-enter]")].find(isVisible);
        if (!button || button.disabled) return;
        event.preventDefault();
        const active = document.activeElement;
        if (active && (active.tagName === "TEXTAREA" || active.tagName === "INPUT")) {
            active.dispatchEvent(new Event("change", { bubbles: true }));
        }
        button.click();
    });

    // A picture pasted into a picture zone goes to that zone's file input, as if it had been chosen there.
    document.addEventListener("paste", event => {
        const zone = event.target instanceof Element ? event.target.closest("[data-paste-target]") : null;
        const input = zone?.closest(".picture-input")?.querySelector("input[type=file]");
        const file = [...(event.clipboardData?.files ?? [])].find(f => f.type.startsWith("image/"));
        if (!input || !file) return;
        event.preventDefault();
        const files = new DataTransfer();
        files.items.add(file);
        input.files = files.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
    });

    // A picture of an image deleted from history (or whose file went missing) shows a neutral placeholder instead of
    // the browser's broken-image icon. Error events do not bubble, hence the capture phase.
    document.addEventListener("error", event => {
        const image = event.target;
        if (!(image instanceof HTMLImageElement) || image.dataset.missing || !new URL(image.src, document.baseURI).pathname.startsWith("/api/images/")) return;
        image.dataset.missing = "true";
        image.title = "This image was deleted";
        image.src = new URL("missing-image.svg", document.baseURI).href;
    }, true);

    return { load, save };
})();
