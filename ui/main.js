// The status window's entry point; everything lives in js/ (ES modules, no bundler).
import { start } from "./js/app.js";

start();
