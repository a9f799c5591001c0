import { render } from "preact";
import "./styles.css";
import { loadConfig } from "./config";
import { config } from "./session";
import { App } from "./shell/App";

const root = document.getElementById("app")!;
loadConfig().then(
  (c) => {
    config.value = c;
    root.textContent = "";
    render(<App />, root);
  },
  (e) => {
    root.innerHTML = "";
    const p = document.createElement("p");
    p.className = "notice error";
    p.setAttribute("role", "alert");
    p.textContent = `The app could not start: its configuration (config.json) could not be read (${e.message}).`;
    root.append(p);
  },
);
