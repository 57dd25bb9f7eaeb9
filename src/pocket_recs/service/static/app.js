// Live job status and the per-model settings of the training form.
(function () {
  const select = document.getElementById("model_type");
  if (select) {
    const show = () => document.querySelectorAll("fieldset.params").forEach((set) => {
      const on = set.dataset.model === select.value;
      set.hidden = !on;
      set.disabled = !on;
    });
    select.addEventListener("change", show);
    show();
  }

  const table = document.getElementById("jobs");
  if (table) {
    const final = table.dataset.final.split(",");
    const poll = async () => {
      const rows = [...table.querySelectorAll("tr[data-job]")];
      if (!rows.some((row) => !final.includes(row.querySelector(".status").textContent))) return;
      const response = await fetch("/api/jobs", { credentials: "same-origin" });
      if (!response.ok) return;
      const jobs = new Map((await response.json()).map((job) => [job.job_id, job]));
      for (const row of rows) {
        const job = jobs.get(row.dataset.job);
        if (!job) continue;
        const cell = row.querySelector(".status");
        if (cell.textContent !== job.status && final.includes(job.status)) { location.reload(); return; }
        cell.textContent = job.status;
        cell.className = "status status-" + job.status;
        row.querySelector("progress").value = job.progress;
        row.querySelector(".pct").textContent = Math.round(job.progress) + "%";
      }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }

  const section = document.getElementById("job");
  if (section && !["completed", "failed", "cancelled"].includes(section.dataset.status)) {
    const poll = async () => {
      const response = await fetch("/api/jobs/" + section.dataset.job, { credentials: "same-origin" });
      if (!response.ok) return;
      const job = await response.json();
      if (["completed", "failed", "cancelled"].includes(job.status)) { location.reload(); return; }
      document.getElementById("job-status").textContent = job.status;
      document.getElementById("job-progress").value = job.progress;
      document.getElementById("job-pct").textContent = Math.round(job.progress) + "%";
      document.getElementById("job-detail").textContent = job.stage_detail;
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }
})();
