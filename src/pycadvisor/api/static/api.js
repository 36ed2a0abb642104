// The REST API as the UI uses it (cAdvisor's containers.js calls the same endpoints).

export class ApiError extends Error {
  constructor(status, text, url) {
    super(text || `HTTP ${status}`);
    this.status = status;
    this.url = url;
  }
}

/** Encode a cgroup name ("/system.slice/a@b.service") for a URL path, one segment at a time. */
export function encodePath(name) {
  return String(name)
    .split("/")
    .map((seg) => encodeURIComponent(seg))
    .join("/");
}

export class Api {
  constructor(prefix) {
    this.prefix = prefix || "";
  }

  url(path) {
    return this.prefix + path;
  }

  async request(path, body) {
    const url = this.url(path);
    const init = { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.method = "POST";
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, "the server did not answer (" + e.message + ")", url);
    }
    if (!resp.ok) {
      const text = (await resp.text()).trim();
      throw new ApiError(resp.status, text || `${resp.status} ${resp.statusText}`, url);
    }
    return resp.json();
  }

  machine() {
    return this.request("/api/v1.0/machine");
  }

  /** ContainerInfo of a cgroup with its newest samples; body as cAdvisor's ContainerInfoRequest. */
  container(name, body) {
    return this.request("/api/v1.0/containers" + encodePath(name), body);
  }

  /** The container and all its descendants (an array of ContainerInfo). */
  subcontainers(name, body) {
    return this.request("/api/v1.1/subcontainers" + encodePath(name), body);
  }

  /** {cgroup name: ContainerInfo} of all Docker containers, or of the one with this id or name. */
  docker(alias, body) {
    return this.request("/api/v1.2/docker/" + encodeURIComponent(alias || ""), body);
  }

  /** Processes of one container (cAdvisor runs ps). */
  ps(name) {
    return this.request("/api/v2.0/ps" + encodePath(name));
  }

  /** {cgroup name: ContainerSpec v2} of Podman containers (all, or the one with this id or name). */
  podman(alias) {
    const q = alias ? "?type=podman" : "?type=podman&recursive=true";
    return this.request("/api/v2.0/spec/" + encodeURIComponent(alias || "") + q);
  }
}

/**
 * Run fn now and then every ms milliseconds, never two at once, and not while the tab is hidden.
 * Returns a function that stops it.
 */
export function every(ms, fn) {
  let busy = false;
  const tick = async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      await fn();
    } finally {
      busy = false;
    }
  };
  tick();
  const timer = setInterval(tick, ms);
  const onShow = () => {
    if (!document.hidden) tick();
  };
  document.addEventListener("visibilitychange", onShow);
  return () => {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onShow);
  };
}
