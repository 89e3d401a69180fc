// Flamenco 3 job type: propagate the keyframe masks of the shots of a maskprop job file, one task per shot.
//
// Install: copy this file into the `scripts` folder next to the flamenco-manager executable and restart the
// Manager. Tasks have the type "roto": list it in the `task_types` of the GPU workers' flamenco-worker.yaml,
// or no worker will take them. docs/farm.md explains the settings and the job file.

const JOB_TYPE = {
    label: "Mask Propagation",
    settings: [
        { key: "job_file", type: "string", subtype: "file_path", required: true,
          description: "maskprop job file (TOML); its paths are relative to its folder" },
        { key: "shots", type: "string", required: true,
          description: "Shot names from the job file, separated by spaces: one task each. " +
                       "Names joined by commas (sh010,sh020) run in one task with one model load" },
        { key: "python", type: "string", required: true, default: "python", visible: "submission",
          description: "The Python interpreter of the environment maskprop is installed in, on the workers" },
        { key: "checkpoint", type: "string", subtype: "file_path", required: false, visible: "submission",
          description: "AFB-URR checkpoint; empty: the job file's, else the worker's $MASKPROP_CHECKPOINT, else the shipped network" },
    ]
};

// Workers that can propagate (a GPU, maskprop installed) advertise this task type.
const TASK_TYPE = "roto";

function compileJob(job) {
    const settings = job.settings;
    const groups = `${settings.shots || ""}`.split(/\s+/).filter((group) => group.length > 0);
    if (groups.length === 0) {
        throw "no shots: list the names of the job file's shots, separated by spaces";
    }
    for (const group of groups) {
        const task = author.Task(`roto-${group}`, TASK_TYPE);
        task.addCommand(author.Command("exec", { exe: settings.python, args: batchArgs(settings, group) }));
        job.addTask(task);
    }
}

// The command line of one task: `python -m engine batch JOBFILE --shot NAME[,NAME...]`.
function batchArgs(settings, group) {
    const args = ["-m", "engine", "batch", settings.job_file, "--shot", group];
    if (settings.checkpoint) {
        args.push("--checkpoint", settings.checkpoint);
    }
    return args;
}
