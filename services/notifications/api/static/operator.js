// The operators' page: search a household or a trace, read the timeline and the causation tree with each
// hop's latency, acknowledge open alerts, follow reports and their deadlines and download them. Plain DOM (no build step); data is only ever set as text.
"use strict";

const SERVICES = { registry: "登记", eligibility: "认定", disbursement: "发放", notifications: "通知" };
const LEVELS = { cadre: "包保干部", township: "乡镇", county: "县（市、区）" };
const SEVERITIES = { info: "提示", warning: "警告", critical: "紧急" };
const STATUSES = { open: "未确认", acknowledged: "已确认", resolved: "已处理" };
const REPORT_KINDS = { monthly: "月调度", quarterly: "季度报告" };
const DEADLINE_STATES = { open: "未到期", due_soon: "即将到期", missed: "已逾期", submitted: "已报送" };
const RECEIVERS = { city: "市州民政部门", province: "省民政厅" };

const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem("token") || "";

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token()}`, ...(options.headers || {}) },
  });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    throw new Error((body && (body.detail || body.title)) || `HTTP ${response.status}`);
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function serviceBadge(service) {
  const span = document.createElement("span");
  span.className = `service ${service}`;
  span.textContent = SERVICES[service] || service;
  return span;
}

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

function localTime(iso) {
  return new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

async function showTimeline(householdId) {
  const data = await api(`/v1/households/${encodeURIComponent(householdId)}/timeline?limit=500`);
  $("timeline-household").textContent = householdId;
  const body = $("timeline").querySelector("tbody");
  body.replaceChildren();
  for (const event of data.items) {
    const row = document.createElement("tr");
    cell(row, localTime(event.time));
    const service = cell(row, "");
    service.appendChild(serviceBadge(event.service));
    cell(row, event.type);
    const trace = cell(row, "");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "open-trace";
    button.textContent = event.trace_id.slice(0, 8);
    button.title = event.trace_id;
    button.addEventListener("click", () => showTrace(event.trace_id).catch((e) => say(e.message, true)));
    trace.appendChild(button);
    body.appendChild(row);
  }
  $("timeline-section").hidden = false;
  return data.items;
}

function node(item, critical) {
  const li = document.createElement("li");
  li.dataset.eventId = item.id;
  li.appendChild(serviceBadge(item.service));
  const label = document.createElement("span");
  label.textContent = item.type;
  if (critical.has(item.id)) label.className = "critical";
  li.appendChild(label);
  if (item.latency_ms !== null) {
    const latency = document.createElement("span");
    latency.className = "latency";
    latency.textContent = `+${item.latency_ms} 毫秒`;
    li.appendChild(latency);
  }
  if (item.linked_to) {
    const link = document.createElement("span");
    link.className = "link";
    link.textContent = `关联：${item.linked_to}`;
    li.appendChild(link);
  }
  if (item.children.length) {
    const ul = document.createElement("ul");
    for (const child of item.children) ul.appendChild(node(child, critical));
    li.appendChild(ul);
  }
  return li;
}

async function showTrace(traceId) {
  const trace = await api(`/v1/traces/${encodeURIComponent(traceId)}`);
  $("trace-id").textContent = trace.trace_id;
  $("trace-services").textContent = trace.services.map((s) => SERVICES[s] || s).join("、");
  $("trace-duration").textContent = String(trace.duration_ms);
  const critical = new Set(trace.critical_path);
  $("trace-tree").replaceChildren(...trace.tree.map((root) => node(root, critical)));
  $("trace-section").hidden = false;
}

async function search(event) {
  event.preventDefault();
  const query = $("query").value.trim();
  if (!query) return;
  say("查询中……");
  try {
    if (/^[0-9a-f]{32}$/.test(query)) {
      await showTrace(query);
      say("");
    } else {
      const items = await showTimeline(query);
      if (items.length) await showTrace(items[0].trace_id);
      say(`共 ${items.length} 个事件`);
    }
  } catch (e) {
    say(`未找到：${e.message}`, true);
  }
}

async function loadAlerts() {
  const body = $("alerts").querySelector("tbody");
  try {
    const data = await api("/v1/alerts?status=open&limit=100");
    body.replaceChildren();
    for (const alert of data.items) {
      const row = document.createElement("tr");
      row.dataset.alertId = alert.id;
      cell(row, localTime(alert.raised_at));
      cell(row, alert.title);
      cell(row, SEVERITIES[alert.severity] || alert.severity);
      cell(row, LEVELS[alert.level] || alert.level);
      cell(row, alert.household_id);
      const status = cell(row, STATUSES[alert.status] || alert.status, "status");
      const action = cell(row, "");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "acknowledge";
      button.textContent = "确认";
      button.addEventListener("click", async () => {
        try {
          const after = await api(`/v1/alerts/${encodeURIComponent(alert.id)}/acknowledge`, { method: "POST" });
          status.textContent = STATUSES[after.status] || after.status;
          button.disabled = true;
        } catch (e) {
          say(`确认失败：${e.message}`, true);
        }
      });
      action.appendChild(button);
      body.appendChild(row);
    }
  } catch (e) {
    say(`预警加载失败：${e.message}`, true);
  }
}

async function download(report, format) {
  const response = await fetch(`/v1/reports/${encodeURIComponent(report.id)}/${format}`, {
    headers: { Authorization: `Bearer ${token()}` },
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `report-${report.period}-${report.region_code}-v${report.version}.${format}`;
  link.click();
  URL.revokeObjectURL(link.href);
}

async function loadReports() {
  try {
    const deadlines = await api("/v1/report-deadlines");
    const body = $("deadlines").querySelector("tbody");
    body.replaceChildren();
    for (const item of deadlines.items) {
      const row = document.createElement("tr");
      row.dataset.region = item.region_code;
      row.dataset.state = item.state;
      cell(row, REPORT_KINDS[item.kind] || item.kind);
      cell(row, item.period);
      cell(row, item.region_code);
      cell(row, RECEIVERS[item.due_to] || item.due_to);
      cell(row, item.due_on);
      cell(row, DEADLINE_STATES[item.state] || item.state, `state ${item.state}`);
      body.appendChild(row);
    }
    const reports = await api("/v1/reports?limit=50");
    const list = $("reports").querySelector("tbody");
    list.replaceChildren();
    for (const report of reports.items) {
      const row = document.createElement("tr");
      row.dataset.reportId = report.id;
      cell(row, REPORT_KINDS[report.kind] || report.kind);
      cell(row, report.period);
      cell(row, report.region_code);
      cell(row, `第${report.version}版`);
      cell(row, report.provisional ? `${report.as_of}（进行中）` : report.as_of);
      cell(row, report.submitted_at ? `已报送 ${localTime(report.submitted_at)}` : "未报送");
      const files = cell(row, "");
      for (const format of ["csv", "xlsx"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = `download ${format}`;
        button.textContent = format.toUpperCase();
        button.addEventListener("click", () => download(report, format).catch((e) => say(`下载失败：${e.message}`, true)));
        files.appendChild(button);
      }
      list.appendChild(row);
    }
  } catch (e) {
    say(`报表加载失败：${e.message}`, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = token();
  $("token-state").textContent = token() ? "已设置" : "未设置";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("token", $("token").value.trim());
    $("token-state").textContent = "已设置";
    loadAlerts();
    loadReports();
  });
  $("search-form").addEventListener("submit", search);
  $("refresh-alerts").addEventListener("click", loadAlerts);
  $("refresh-reports").addEventListener("click", loadReports);
  if (token()) {
    loadAlerts();
    loadReports();
  }
});
