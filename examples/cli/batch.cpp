// `m4cxr batch --manifest STUDIES.jsonl --out RESULTS.jsonl`: a worklist from one command.
//
// Each manifest line is one JSON object {"id": ..., "task": COMMAND, ...}: COMMAND is one
// of the CLI's task commands and the other keys are that command's options without the
// dashes ("phrase", "prior_report", "max_new_tokens"; a list under the option's plural
// name for a repeatable one: "images", "prior_images", "boxes"). The line becomes that
// command line and goes through the same parse()/pick_task()/fill_args() as
// `m4cxr COMMAND ...`, so the task table stays the one description of the tasks.
//
// Output: one line per manifest line, the task's JSON result with "id" and "line" (the
// manifest line number), or {"id", "line", "error"}. Each line is written whole by one
// write(2) on an O_APPEND file, so a crash or kill -9 loses at most the items in flight,
// never leaves half a line of ours, and a rerun skips what is already there (a partial
// last line from an older crash is cut off and its item redone).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"

namespace m4cxr_cli {

const char* const kBatchHelp =
    "usage: m4cxr batch --model DIR --manifest STUDIES.jsonl --out RESULTS.jsonl [--concurrency N]\n"
    "Runs every line of the manifest, one JSON object per line:\n"
    "  {\"id\": \"s1\", \"task\": \"report\", \"images\": [\"front.png\", \"lateral.png\"]}\n"
    "  {\"id\": \"s2\", \"task\": \"ground\", \"image\": \"cxr.png\", \"phrase\": \"left pleural effusion\"}\n"
    "  {\"id\": \"s3\", \"task\": \"identify\", \"image\": \"cxr.png\", \"box\": [120, 340, 560, 900], \"what\": \"region\"}\n"
    "`task` is a task command (m4cxr --help); the other keys are its options without the dashes\n"
    "(prior_report, max_new_tokens, ...; a list under the plural for repeatable ones: images,\n"
    "prior_images, boxes); relative paths are relative to the manifest's folder. The command line's\n"
    "generation options are the defaults of every item. Each output line is the task's JSON result\n"
    "with \"id\" and \"line\", or {\"id\", \"line\", \"error\"} for an item that failed; ids already in\n"
    "the output are skipped, so a killed run is resumed by running it again.\n"
    "  --concurrency N       items at once, each on its own session of the one loaded model\n"
    "                        (default: from the cores and the free memory)\n"
    "Exit code 0 when every item of this run succeeded, 3 when some were error lines.\n";

namespace {

// Manifest keys that are generation options of the command line (a task argument's key
// comes from the task table).
const std::set<std::string> kGenerationKeys = {"max_new_tokens", "temperature", "top_p", "top_k",
                                               "seed", "logprobs", "constrained"};

// Every task option of the table -> the types it has in the tasks that take it.
const std::map<std::string, std::set<std::string>>& option_types() {
  static const std::map<std::string, std::set<std::string>> m = [] {
    std::map<std::string, std::set<std::string>> out;
    for (const auto& t : task_table()["tasks"])
      for (const auto& a : t["args"]) out[a["cli"].get<std::string>()].insert(a["type"].get<std::string>());
    return out;
  }();
  return m;
}

// Whether the option may be given more than once (a list in the manifest).
bool is_list_type(const std::set<std::string>& types) {
  return types.count("images") || types.count("boxes") || types.count("texts");
}

// Whether the option names an image file (relative to the manifest's folder).
bool is_path_type(const std::set<std::string>& types) { return types.count("image") || types.count("images"); }

// Whether any task taking this option reads it as a file path or the text itself.
bool is_file_or_text(const std::string& flag) {
  for (const auto& t : task_table()["tasks"])
    for (const auto& a : t["args"])
      if (a["cli"] == flag && a.value("cli_file_or_text", false)) return true;
  return false;
}

// A JSON value on one line; bytes that are not UTF-8 (a message quoting a broken manifest
// line) become U+FFFD instead of throwing.
template <class J>
std::string one_line(const J& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A JSON number as the command line writes it (integers without a decimal point).
std::string number_text(const nlohmann::json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
  std::ostringstream s;
  s.precision(17);
  s << v.get<double>();
  return s.str();
}

// One scalar value of an option as command-line text.
std::string scalar_text(const std::string& key, const nlohmann::json& v) {
  if (v.is_string()) {
    if (v.get<std::string>().find('\0') != std::string::npos) throw UsageError{"\"" + key + "\" holds a NUL character"};
    return v.get<std::string>();
  }
  if (v.is_number()) return number_text(v);
  throw UsageError{"\"" + key + "\" expects a string or a number, got " + std::string(v.type_name())};
}

// A box [x1, y1, x2, y2] as --box takes it ("x1,y1,x2,y2").
std::string box_text(const std::string& key, const nlohmann::json& v) {
  if (!v.is_array() || v.size() != 4 || !std::all_of(v.begin(), v.end(), [](const auto& x) { return x.is_number(); }))
    throw UsageError{"\"" + key + "\" expects boxes [x1, y1, x2, y2] of 4 numbers, got " + one_line(v)};
  return number_text(v[0]) + "," + number_text(v[1]) + "," + number_text(v[2]) + "," + number_text(v[3]);
}

// One manifest line: its command line, or the error that stops it.
struct Item {
  size_t line = 0;
  nlohmann::json id;      // string or integer; null for a line without a usable id
  std::string error;      // set: the line is recorded as this error
  std::vector<std::string> argv;  // the command line the line stands for
  std::set<std::string> generation_keys;
};

// Manifest line -> the equivalent command line ("m4cxr COMMAND --flag=value ..."). Throws
// UsageError with what is wrong.
std::vector<std::string> to_argv(const nlohmann::json& j, const std::filesystem::path& base,
                                 std::set<std::string>* generation_keys) {
  const auto& task = j.at("task");
  if (!task.is_string()) throw UsageError{"\"task\" must be a string (a task command: report, classify, ...)"};
  const std::string command = task.get<std::string>();
  if (tasks_of(command).empty()) throw UsageError{"unknown task '" + command + "' (a task command of m4cxr --help)"};
  std::vector<std::string> argv = {"m4cxr", command};
  auto path = [&](const std::string& p) {
    if (p.empty()) throw UsageError{"an empty image path"};
    const std::filesystem::path fp(p);
    return fp.is_absolute() ? p : (base / fp).string();
  };
  for (const auto& [key, v] : j.items()) {
    if (key == "id" || key == "task") continue;
    std::string dashed = key;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    if (kGenerationKeys.count(key)) {
      generation_keys->insert(key);
      if (key == "constrained") {
        if (!v.is_boolean()) throw UsageError{"\"constrained\" expects true or false"};
        if (v.get<bool>()) argv.push_back("--constrained");
        continue;
      }
      if (!v.is_number()) throw UsageError{"\"" + key + "\" expects a number, got " + one_line(v)};
      argv.push_back("--" + dashed + "=" + number_text(v));
      continue;
    }
    std::string flag = "--" + dashed;
    bool plural = false;
    if (!option_types().count(flag)) {  // "images" -> --image, "boxes" -> --box
      for (size_t cut : {1, 2}) {
        if (dashed.size() > cut && dashed.back() == 's') {
          const std::string singular = "--" + dashed.substr(0, dashed.size() - cut);
          if (option_types().count(singular) && is_list_type(option_types().at(singular))) {
            flag = singular;
            plural = true;
            break;
          }
        }
      }
    }
    if (!option_types().count(flag))
      throw UsageError{"unknown key \"" + key + "\" (the options of `m4cxr " + task.get<std::string>() +
                       " --help` without dashes, or a generation option)"};
    const auto& types = option_types().at(flag);
    if (types.count("flag")) {
      if (!v.is_boolean()) throw UsageError{"\"" + key + "\" expects true or false"};
      if (v.get<bool>()) argv.push_back(flag);
      continue;
    }
    // The values of the option: a list for the plural key or a repeatable option.
    std::vector<nlohmann::json> values;
    const bool box = types.count("boxes") > 0;
    if (box && v.is_array() && !v.empty() && v[0].is_number()) {
      values.push_back(v);  // one box [x1, y1, x2, y2]
    } else if (v.is_array()) {
      if (!plural && !is_list_type(types)) throw UsageError{"\"" + key + "\" takes one value, not a list"};
      if (v.empty()) throw UsageError{"\"" + key + "\" is an empty list"};
      values.assign(v.begin(), v.end());
    } else {
      if (plural) throw UsageError{"\"" + key + "\" expects a list"};
      values.push_back(v);
    }
    for (const auto& x : values) {
      std::string text = box ? box_text(key, x) : scalar_text(key, x);
      if (is_path_type(types)) text = path(text);
      if (types.count("texts") && text.find(',') != std::string::npos)
        throw UsageError{"\"" + key + "\": '" + text + "' holds a comma; give the names as a list"};
      if (is_file_or_text(flag) && !std::filesystem::path(text).is_absolute() &&
          std::filesystem::is_regular_file(base / text))
        text = (base / text).string();
      argv.push_back(flag + "=" + text);
    }
  }
  return argv;
}

// Manifest line `line` (text) -> an Item; never throws (a bad line is an Item with error).
Item read_item(const std::string& text, size_t line, const std::filesystem::path& base) {
  Item it;
  it.line = line;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    it.error = std::string("not a JSON line: ") + e.what();
    return it;
  }
  if (!j.is_object()) {
    it.error = "a manifest line must be a JSON object, got " + std::string(j.type_name());
    return it;
  }
  if (!j.contains("id") || !((j["id"].is_string() && !j["id"].get<std::string>().empty()) ||
                             j["id"].is_number_integer())) {
    it.error = "the line needs an \"id\": a non-empty string or an integer";
    return it;
  }
  it.id = j["id"];
  if (!j.contains("task")) {
    it.error = "the line needs a \"task\" (a task command: report, classify, ...)";
    return it;
  }
  try {
    it.argv = to_argv(j, base, &it.generation_keys);
  } catch (const UsageError& e) {
    it.error = e.message;
  } catch (const std::exception& e) {
    it.error = e.what();
  }
  return it;
}

// The output file: what is in it (ids, lines without id), then appends of whole lines.
class Output {
 public:
  explicit Output(const std::string& path) : path_(path) {
    cut_partial_line();
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      try {
        const auto j = nlohmann::json::parse(line);
        if (!j.is_object()) continue;
        if (j.contains("id") && !j["id"].is_null()) done_ids_.insert(one_line(j["id"]));
        else if (j.contains("line") && j["line"].is_number_unsigned()) done_lines_.insert(j["line"].get<size_t>());
      } catch (const nlohmann::json::exception&) {
        std::fprintf(stderr, "m4cxr batch: ignoring a line of %s that is not JSON\n", path.c_str());
      }
    }
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Failure{kInput, "cannot open '" + path + "' for appending: " + std::strerror(errno)};
  }
  ~Output() {
    if (fd_ >= 0) ::close(fd_);
  }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  bool has_id(const nlohmann::json& id) const { return done_ids_.count(one_line(id)) > 0; }
  bool has_line(size_t line) const { return done_lines_.count(line) > 0; }

  // Appends one complete line (a single write of line + '\n'); any thread.
  void append(const std::string& line) {
    std::string buf = line;
    buf.push_back('\n');
    std::lock_guard<std::mutex> lock(mu_);
    size_t off = 0;
    while (off < buf.size()) {  // a regular file takes the whole write unless the disk is full
      const ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Failure{kOther, "cannot write '" + path_ + "': " + std::strerror(errno)};
      off += static_cast<size_t>(n);
    }
  }

 private:
  // A last line without its newline (a crash of an older writer mid-line) is cut off: its
  // item is redone, and the next line does not glue onto it.
  void cut_partial_line() {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path_, ec)) return;
    std::ifstream in(path_, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (all.empty() || all.back() == '\n') return;
    const size_t keep = all.rfind('\n') == std::string::npos ? 0 : all.rfind('\n') + 1;
    std::filesystem::resize_file(path_, keep, ec);
    if (ec) throw Failure{kInput, "cannot cut the partial last line of '" + path_ + "': " + ec.message()};
    std::fprintf(stderr, "m4cxr batch: dropped a partial last line of %s (its item is done again)\n", path_.c_str());
  }

  std::string path_;
  int fd_ = -1;
  std::mutex mu_;
  std::set<std::string> done_ids_;
  std::set<size_t> done_lines_;
};

// Progress on stderr: a bar with rate and ETA on a terminal, plain lines (at most one a
// second, and the last) otherwise.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(stderr_tty()), start_(Clock::now()) {}
  void item_done(bool error) {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    errors_ += error ? 1 : 0;
    const auto now = Clock::now();
    if (!tty_ && done_ < total_ && now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    const double s = std::chrono::duration<double>(now - start_).count();
    const double rate = s > 0 ? static_cast<double>(done_) / s : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
    char line[200];
    if (tty_) {
      const int w = 30, n = total_ ? static_cast<int>(w * done_ / total_) : w;
      std::snprintf(line, sizeof line, "\r[%.*s%*s] %zu/%zu, %zu errors, %.2f items/s, ETA %s ", n,
                    "##############################", w - n, "", done_, total_, errors_, rate, clock_text(eta).c_str());
      std::fputs(line, stderr);
      if (done_ == total_) std::fputc('\n', stderr);
    } else {
      std::snprintf(line, sizeof line, "m4cxr batch: %zu/%zu done, %zu errors, %.2f items/s, ETA %s\n", done_,
                    total_, errors_, rate, clock_text(eta).c_str());
      std::fputs(line, stderr);
    }
    std::fflush(stderr);
  }
  size_t errors() const { return errors_; }

 private:
  using Clock = std::chrono::steady_clock;
  static std::string clock_text(double seconds) {
    const long t = std::lround(seconds);
    char b[32];
    std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    return b;
  }
  size_t total_, done_ = 0, errors_ = 0;
  bool tty_;
  Clock::time_point start_, last_{};
  std::mutex mu_;
};

// Bytes of memory available to new allocations (MemAvailable), 0 if unknown.
uint64_t available_memory() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// Items at once when --concurrency is not given: the items' decoding shares the model's
// passes (batched decoding, up to 16 sessions a pass), and on a CPU 8 at once measured
// over 5x the throughput of one; then lowered to what the memory holds.
constexpr int kDefaultConcurrency = 8;

// n lowered to what the free memory holds once the model is loaded: one full KV cache
// (4096 positions) plus 256 MiB of activations per item.
int memory_concurrency(int n, m4cxr_model* model) {
  m4cxr_model_info info;
  info.struct_size = sizeof info;
  if (m4cxr_model_get_info(model, &info) == M4CXR_OK) {
    const uint64_t elem = info.dtype == M4CXR_DTYPE_FLOAT32 ? 4 : 2;
    const uint64_t per_item = 2ull * static_cast<uint64_t>(info.text_layers) * static_cast<uint64_t>(info.text_hidden) *
                                  4096ull * elem + (256ull << 20);
    const uint64_t free = available_memory();
    if (free > 0) n = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(n), std::max<uint64_t>(1, free / per_item)));
  }
  return n;
}

// Runs one item on `session`; returns its output line (a result or an error) and
// whether it is an error.
std::pair<std::string, bool> run_item(const Item& it, const Options& base, m4cxr_model* model, m4cxr_session* session) {
  nlohmann::ordered_json out = {{"id", it.id}, {"line", it.line}};
  try {
    std::vector<std::string> args = it.argv;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    Options o = parse(static_cast<int>(argv.size()), argv.data());
    // the command line's generation options are the defaults of every item
    if (!it.generation_keys.count("max_new_tokens")) o.max_new_tokens = base.max_new_tokens;
    if (!it.generation_keys.count("temperature")) o.temperature = base.temperature;
    if (!it.generation_keys.count("top_p")) o.top_p = base.top_p;
    if (!it.generation_keys.count("top_k")) o.top_k = base.top_k;
    if (!it.generation_keys.count("seed")) o.seed = base.seed;
    if (!it.generation_keys.count("logprobs")) o.logprobs = base.logprobs;
    if (!it.generation_keys.count("constrained")) o.constrained = base.constrained;
    o.sample = o.sample || base.sample;
    const nlohmann::json& task = pick_task(o);
    Handles h;
    h.model = model;
    h.owns_model = false;
    std::unique_ptr<m4cxr_task_args, void (*)(m4cxr_task_args*)> args_h(nullptr, m4cxr_task_args_free);
    m4cxr_task_args* a = nullptr;
    check(m4cxr_task_args_create(&a), "task arguments");
    args_h.reset(a);
    std::vector<std::array<double, 4>> in_boxes;
    fill_args(h, o, task, a, &in_boxes);
    // Every item is its own study: a task that continues the conversation (ask) must not
    // continue the previous item's, so the session is reset first.
    if (task.value("conversation", "fresh") != "fresh") check(m4cxr_session_reset(session), "resetting the session");
    const auto g = generation(o);
    m4cxr_task* t = nullptr;
    check(m4cxr_task_start(session, task["name"].get<std::string>().c_str(), a, &g, &t), "starting " + o.command, true);
    std::unique_ptr<m4cxr_task, void (*)(m4cxr_task*)> task_h(t, m4cxr_task_free);
    check(m4cxr_task_run(t, nullptr, nullptr), "generation failed");
    m4cxr_result* r = nullptr;
    check(m4cxr_task_result(t, &r), "collecting the result");
    std::unique_ptr<m4cxr_result, void (*)(m4cxr_result*)> result_h(r, m4cxr_result_free);
    const auto doc = nlohmann::ordered_json::parse(m4cxr_result_json(r));
    for (auto e = doc.begin(); e != doc.end(); ++e)
      if (e.key() != "id" && e.key() != "line") out[e.key()] = e.value();
    out["images"] = o.images;
  } catch (const UsageError& e) {
    out["error"] = e.message;
  } catch (const Failure& f) {
    out["error"] = f.message;
  } catch (const std::exception& e) {
    out["error"] = e.what();
  }
  return {one_line(out), out.contains("error")};
}

}  // namespace

int run_batch(const Options& o) {
  if (o.manifest.empty() || o.out.empty()) throw UsageError{"batch needs --manifest FILE and --out FILE"};
  if (!o.task.empty()) throw UsageError{"batch takes the task options from the manifest, not the command line"};
  if (!o.draw.empty() || !o.prompt.empty())
    throw UsageError{"batch writes JSON lines: --draw and --prompt do not apply (give task options in the manifest)"};
  std::error_code ec;
  if (std::filesystem::is_directory(o.manifest, ec)) throw Failure{kInput, "the manifest '" + o.manifest + "' is a folder"};
  std::ifstream mf(o.manifest);
  if (!mf) throw Failure{kInput, "cannot open the manifest '" + o.manifest + "'"};
  const std::filesystem::path base = std::filesystem::absolute(o.manifest).parent_path();
  Output out(o.out);

  // Read the whole manifest first: broken lines and duplicate ids are error lines at once.
  std::vector<Item> todo;
  std::map<std::string, size_t> first_line;  // id -> its first manifest line
  size_t skipped = 0, bad = 0, number = 0;
  std::string text;
  while (std::getline(mf, text)) {
    ++number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    Item it = read_item(text, number, base);
    if (!it.id.is_null()) {
      const auto [pos, fresh] = first_line.emplace(one_line(it.id), number);
      if (!fresh) {
        it.error = "duplicate id " + one_line(it.id) + " (first on line " + std::to_string(pos->second) + ")";
        it.id = nullptr;  // the id's own line is the first one
      }
    }
    if (it.id.is_null() ? out.has_line(number) : out.has_id(it.id)) {
      ++skipped;
      continue;
    }
    if (!it.error.empty()) {
      out.append(one_line(nlohmann::ordered_json{{"id", it.id}, {"line", it.line}, {"error", it.error}}));
      ++bad;
      continue;
    }
    todo.push_back(std::move(it));
  }
  if (skipped) std::fprintf(stderr, "m4cxr batch: %zu item(s) already in %s are skipped\n", skipped, o.out.c_str());
  if (bad) std::fprintf(stderr, "m4cxr batch: %zu manifest line(s) recorded as errors\n", bad);
  if (todo.empty()) {
    std::fprintf(stderr, "m4cxr batch: nothing to do\n");
    return bad ? kInput : kOk;
  }

  // Every item's decoder passes run on the model's one scheduler thread, so the intra-op
  // threads stay at all cores (unless --threads says otherwise).
  const Options& lo = o;
  int concurrency = o.concurrency > 0 ? o.concurrency : kDefaultConcurrency;
  Handles owner;  // frees the model last
  owner.model = load_model(lo);
  m4cxr_model* model = owner.model;
  if (o.concurrency == 0) {
    concurrency = memory_concurrency(concurrency, model);
    std::fprintf(stderr, "m4cxr batch: %d item(s) at once\n", concurrency);
  }
  concurrency = std::min<int>(concurrency, static_cast<int>(todo.size()));

  Progress progress(todo.size());
  std::atomic<size_t> next{0};
  std::mutex fatal_mu;
  std::string fatal;
  auto worker = [&] {
    m4cxr_session* s = nullptr;
    if (m4cxr_session_create(model, &s) != M4CXR_OK) {
      std::lock_guard<std::mutex> lock(fatal_mu);
      fatal = std::string("creating a session: ") + m4cxr_last_error();
      return;
    }
    std::unique_ptr<m4cxr_session, void (*)(m4cxr_session*)> session(s, m4cxr_session_free);
    try {
      for (size_t k; (k = next.fetch_add(1)) < todo.size();) {
        const auto [line, error] = run_item(todo[k], o, model, s);
        out.append(line);
        progress.item_done(error);
      }
    } catch (const Failure& f) {  // the output cannot be written: stop every worker
      std::lock_guard<std::mutex> lock(fatal_mu);
      fatal = f.message;
      next.store(todo.size());
    }
  };
  std::vector<std::thread> threads;
  for (int k = 0; k < concurrency; ++k) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!fatal.empty()) throw Failure{kOther, fatal};
  std::fprintf(stderr, "m4cxr batch: %zu item(s) run, %zu error(s), %zu skipped; results in %s\n", todo.size(),
               progress.errors() + bad, skipped, o.out.c_str());
  return progress.errors() + bad ? kInput : kOk;
}

}  // namespace m4cxr_cli
