// Compiles a job with a Flamenco job type, outside Flamenco, and prints what it authored as JSON.
//
//     node flamenco_harness.js JOB_TYPE.js '{"name": "...", "settings": {...}}'
//
// The job type runs in its own context with a stand-in of what the Manager gives job compilers: `author.Task`
// (which, like the Manager's, refuses an empty name or type), `author.Command`, `task.addCommand`,
// `task.addDependency`, `job.addTask` and `print`. stdout gets {"jobType": ..., "tasks": [...]}; an error
// thrown by compileJob goes to stderr with exit status 1, as the Manager would refuse the job.

"use strict";

const fs = require("fs");
const vm = require("vm");

const [scriptPath, jobJson] = process.argv.slice(2);

class Task {
    constructor(name, type) {
        this.name = String(name).trim();
        this.type = String(type).trim();
        if (!this.name || !this.type) {
            throw new Error("author.Task(name, type): name and type are required");
        }
        this.commands = [];
        this.dependencies = [];
    }

    addCommand(command) {
        this.commands.push(command);
    }

    addDependency(task) {
        this.dependencies.push(task.name);
    }
}

const author = {
    Task: (name, type) => new Task(name, type),
    Command: (name, parameters, totalStepCount = 0) => ({ name, parameters, totalStepCount }),
};
const tasks = [];
const job = { ...JSON.parse(jobJson), addTask: (task) => tasks.push(task) };
const context = vm.createContext({ author, print: (...parts) => console.error(...parts) });

vm.runInContext(fs.readFileSync(scriptPath, "utf8"), context, { filename: scriptPath });
// Top-level `const` and `function` declarations are reachable by name inside the context.
const jobType = vm.runInContext("JOB_TYPE", context);
try {
    vm.runInContext("compileJob", context)(job);
} catch (error) {
    console.error(`compileJob failed: ${error}`);
    process.exit(1);
}
console.log(JSON.stringify({ jobType, tasks }));
