// m4cxr - every M4CXR task from a terminal, built on the public C API only.
// Exit codes: 0 success, 2 usage error, 3 unreadable input (file, image, report),
// 4 model error (checkpoint cannot be loaded or run), 1 anything else.
#include <m4cxr/m4cxr.h>
#include <m4cxr/m4cxr_debug.h>  // m4cxr_trace for the trace command
#include "cli.h"
#include <stb_image.h>
#include <stb_image_write.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace m4cxr_cli {

const char* kCommandsTail =
    "  batch     --manifest FILE.jsonl --out RESULTS.jsonl: a worklist, resumable (m4cxr batch --help)\n"
    "  chat      interactive: [--image P ...]; type questions; /report, /image PATH, /reset, /quit\n"
    "  info      model summary\n"
    "  trace     --image P ... --prompt TEXT --out DIR: every stage as .npy\n";

const char* kOptionsText =
    "options:\n"
    "  --model DIR           checkpoint folder (or $M4CXR_MODEL)\n"
    "  --adapter DIR         PEFT adapter folder\n"
    "  --dtype bf16|fp32|int8  weights/compute precision (default bf16; int8: decoder weights\n"
    "                        as int8, compute in bf16)\n"
    "  --device D            cpu (default), cuda, cuda:N\n"
    "  --threads N           intra-op threads (default: all cores)\n"
    "  --max-new-tokens N    per turn (default 500)\n"
    "  --temperature T --top-p P --top-k K --seed S   sample instead of greedy\n"
    "  --constrained         answers with a fixed shape (findings, labels, boxes) always\n"
    "                        come out in upstream's format, so they always parse\n"
    "  --json                print one JSON document on one line (findings, boxes, text, timings, replay)\n"
    "  --json-pretty         the same, indented for people\n"
    "  --logprobs K          record each generated token's log-probability and its K most likely\n"
    "                        alternatives (K 0..100); they appear per turn under \"tokens\" in --json\n"
    "  --version             the m4cxr version and C ABI version\n"
    "  --no-stream           do not stream tokens\n"
    "  --draw OUT.png        write the image with the boxes drawn on it\n"
    "  --dicom PATH          a DICOM file or a study folder (repeatable; folders are searched for\n"
    "                        Part-10 files): one study, whose views become --image, ordered PA, AP,\n"
    "                        then lateral (by ViewPosition, else other tags, else file order)\n"
    "  --prior-dicom PATH    the same for an earlier study of the same patient (--prior-image);\n"
    "                        give its report with --prior-report\n"
    "  --dicom-conversion M  mimic_jpg (default: as MIMIC-CXR-JPG, the training data, was made),\n"
    "                        voi (the file's window centre/width), min_max\n"
    "  --dicom-allow LIST    accept what is refused by default: multiframe,modality,color\n"
    "  --fhir OUT.json       also write the result as a FHIR R4 Bundle (DiagnosticReport,\n"
    "                        Observations per finding, Device; marked AI-generated)\n"
    "  --sr OUT.dcm          also write the result as a DICOM Comprehensive SR (same study as\n"
    "                        the --dicom images, boxes as regions on the source image)\n"
    "  --help                this text\n";

// Per-command help: synopsis and what the command does (common options follow).
// Help of the commands that are not tasks of the table (their help comes from the table).
const std::map<std::string, std::string> kCommandHelp = {
    {"chat", "usage: m4cxr chat --model DIR [--image P ...]\n"
             "Reads one user turn per line from stdin: free questions continue the conversation;\n"
             "/report runs the report on the attached images, /image PATH attaches an image to the next turn,\n"
             "/reset clears the conversation, /quit ends.\n"},
    {"batch", kBatchHelp},
    {"info", "usage: m4cxr info --model DIR [--json]\nModel summary (dimensions, dtype, device, weights).\n"},
    {"trace", "usage: m4cxr trace --model DIR --image P [...] --prompt TEXT --out DIR\n"
              "Writes every stage (pixels, vision hidden states, abstractor stages, visual tokens, prompt ids,\n"
              "input embeddings, logits) as .npy files for comparison with the Python reference.\n"},
};

// --dicom / --prior-dicom stand in the task options as the image argument they fill
// (--image / --prior-image), so the task is chosen as for images; the value carries
// this prefix and the path.
const std::string kDicomValue = "\x1f" "dicom:";
bool is_dicom_value(const std::string& v) { return v.rfind(kDicomValue, 0) == 0; }

// Whole-string numbers only: no trailing text, no leading blanks, nothing out of range
// (strtol alone accepts " 12", clamps overflow and lets the cast to int wrap).
int to_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  const long x = v.empty() || std::isspace(static_cast<unsigned char>(v[0])) ? 0 : std::strtol(v.c_str(), &end, 10);
  if (end == nullptr || *end != '\0') throw UsageError{flag + " expects an integer, got '" + v + "'"};
  if (errno == ERANGE || x < INT_MIN || x > INT_MAX) throw UsageError{flag + ": " + v + " is out of range"};
  return static_cast<int>(x);
}

double to_double(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  const double x = v.empty() || std::isspace(static_cast<unsigned char>(v[0])) ? 0 : std::strtod(v.c_str(), &end);
  if (end == nullptr || *end != '\0') throw UsageError{flag + " expects a number, got '" + v + "'"};
  if (errno == ERANGE || !std::isfinite(x)) throw UsageError{flag + ": " + v + " is not a finite number in range"};
  return x;
}

// The library's task table (m4cxr_task_table_json): the CLI derives its task commands,
// their options and help from it, so a task added to the table needs no edit here.
const nlohmann::json& task_table() {
  static const nlohmann::json t = nlohmann::json::parse(m4cxr_task_table_json());
  return t;
}

// Every task option of the table -> whether it takes a value (flags do not).
const std::map<std::string, bool>& task_flags() {
  static const std::map<std::string, bool> f = [] {
    std::map<std::string, bool> m;
    for (const auto& t : task_table()["tasks"])
      for (const auto& a : t["args"]) m[a["cli"].get<std::string>()] = a["type"] != "flag";
    return m;
  }();
  return f;
}

std::vector<const nlohmann::json*> tasks_of(const std::string& command) {
  std::vector<const nlohmann::json*> out;
  for (const auto& t : task_table()["tasks"])
    if (t["cli"]["command"] == command) out.push_back(&t);
  return out;
}

// "usage:" lines and descriptions of a task command, from the table.
std::string task_command_help(const std::string& command) {
  std::string out;
  for (const nlohmann::json* t : tasks_of(command)) {
    std::string line = (out.empty() ? "usage: m4cxr " : "       m4cxr ") + command + " --model DIR";
    std::string args;
    for (const auto& a : (*t)["args"]) {
      const std::string flag = a["cli"], type = a["type"];
      const bool optional = a.contains("default") || a.contains("cli_default");
      std::string shown = flag + (type == "flag" ? "" : type == "boxes" ? " x1,y1,x2,y2" : type == "texts" ? " \"a,b\"" :
                                                        (type == "image" || type == "images") ? " P" : " X");
      if (type == "images" || type == "boxes") shown += " [" + flag + " ...]";
      line += optional ? " [" + shown + "]" : " " + shown;
      args += "    " + flag + ": " + a["doc"].get<std::string>() +
              (a.contains("cli_default") ? " (default " + a["cli_default"].get<std::string>() + ")" : "") + "\n";
    }
    out += line + "\n  " + (*t)["name"].get<std::string>() + ": " + (*t)["doc"].get<std::string>() + "\n" + args;
  }
  return out;
}

std::string usage_text() {
  std::string out = "usage: m4cxr <command> --model DIR [options]\ncommands:\n";
  std::vector<std::string> seen;
  for (const auto& t : task_table()["tasks"]) {
    const std::string c = t["cli"]["command"];
    if (std::find(seen.begin(), seen.end(), c) != seen.end()) continue;
    seen.push_back(c);
    std::string names;
    for (const nlohmann::json* x : tasks_of(c)) names += (names.empty() ? "" : ", ") + (*x)["name"].get<std::string>();
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-9s %s (m4cxr %s --help)\n", c.c_str(), names.c_str(), c.c_str());
    out += buf;
  }
  return out + kCommandsTail + kOptionsText;
}

std::vector<std::string> split_list(const std::string& s);

Options parse(int argc, char** argv) {
  Options o;
  if (const char* env = std::getenv("M4CXR_MODEL")) o.model = env;
  std::vector<std::string> a;
  for (int k = 1; k < argc; ++k) {  // --opt=value is --opt value
    const std::string arg = argv[k];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      a.push_back(arg.substr(0, eq));
      a.push_back(arg.substr(eq + 1));
    } else {
      a.push_back(arg);
    }
  }
  size_t i = 0;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= a.size()) throw UsageError{flag + " needs a value"};
    return a[++i];
  };
  for (; i < a.size(); ++i) {
    const std::string& f = a[i];
    if (f == "--help" || f == "-h") o.help = true;
    else if (f == "--model") o.model = value(f);
    else if (f == "--adapter") o.adapter = value(f);
    else if (f == "--dtype") o.dtype = value(f);
    else if (f == "--device") o.device = value(f);
    else if (f == "--threads") {
      o.threads = to_int(f, value(f));
      if (o.threads < 0) throw UsageError{"--threads must be 0 (all cores) or more"};
    }
    else if (f == "--max-new-tokens") o.max_new_tokens = to_int(f, value(f));
    else if (f == "--temperature") o.temperature = to_double(f, value(f)), o.sample = true;
    else if (f == "--top-p") o.top_p = to_double(f, value(f)), o.sample = true;
    else if (f == "--top-k") o.top_k = to_int(f, value(f)), o.sample = true;
    else if (f == "--seed") o.seed = static_cast<uint64_t>(to_int(f, value(f))), o.sample = true;
    else if (f == "--logprobs") {
      o.logprobs = to_int(f, value(f));
      if (o.logprobs < 0 || o.logprobs > 100) throw UsageError{"--logprobs expects K from 0 to 100 (alternatives per token)"};
    }
    else if (f == "--json") o.json = true;
    else if (f == "--constrained") o.constrained = true;
    else if (f == "--json-pretty") o.json = o.json_pretty = true;
    else if (f == "--version") o.version = true;
    else if (f == "--no-stream") o.stream = false;
    else if (f == "--draw") o.draw = value(f);
    else if (f == "--image") o.images.push_back(value(f)), o.task.emplace_back(f, o.images.back());
    else if (f == "--dicom") o.dicom.push_back(value(f)), o.task.emplace_back("--image", kDicomValue + o.dicom.back());
    else if (f == "--prior-dicom")
      o.prior_dicom.push_back(value(f)), o.task.emplace_back("--prior-image", kDicomValue + o.prior_dicom.back());
    else if (f == "--dicom-conversion") o.dicom_conversion = value(f);
    else if (f == "--dicom-allow") o.dicom_allow = split_list(value(f));
    else if (f == "--fhir") o.fhir = value(f);
    else if (f == "--sr") o.sr = value(f);
    else if (task_flags().count(f)) o.task.emplace_back(f, task_flags().at(f) ? value(f) : "1");
    else if (f == "--prompt") o.prompt = value(f);
    else if (f == "--out") o.out = value(f);
    else if (f == "--manifest") o.manifest = value(f);
    else if (f == "--concurrency") {
      o.concurrency = to_int(f, value(f));
      if (o.concurrency < 1) throw UsageError{"--concurrency must be at least 1"};
    }
    else if (!f.empty() && f[0] == '-') throw UsageError{"unknown option " + f};
    else if (o.command.empty()) o.command = f;
    else throw UsageError{"unexpected argument '" + f + "'"};
  }
  if (o.dtype != "bf16" && o.dtype != "fp32" && o.dtype != "bfloat16" && o.dtype != "float32" && o.dtype != "int8")
    throw UsageError{"--dtype must be bf16, fp32 or int8"};
  if (o.max_new_tokens < 1) throw UsageError{"--max-new-tokens must be at least 1"};
  if (!o.dicom.empty() && !o.images.empty()) throw UsageError{"--dicom and --image cannot be combined"};
  for (const auto& [f, v] : o.task)
    if (f == "--prior-image" && !is_dicom_value(v) && !o.prior_dicom.empty())
      throw UsageError{"--prior-dicom and --prior-image cannot be combined"};
  if (o.dicom_conversion != "mimic_jpg" && o.dicom_conversion != "voi" && o.dicom_conversion != "min_max")
    throw UsageError{"--dicom-conversion must be mimic_jpg, voi or min_max"};
  for (const auto& a : o.dicom_allow)
    if (a != "multiframe" && a != "modality" && a != "color")
      throw UsageError{"--dicom-allow takes multiframe, modality, color; not '" + a + "'"};
  if (!o.draw.empty() && !o.dicom.empty()) throw UsageError{"--draw needs an --image (it cannot draw on DICOM)"};
  if ((!o.fhir.empty() || !o.sr.empty()) &&
      (o.command == "chat" || o.command == "info" || o.command == "batch" || o.command == "trace"))
    throw UsageError{"--fhir and --sr write the result of a task command (report, classify, ground, ...)"};
  return o;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

// input_side: the call read the user's inputs (images, texts, the prompt), not the model.
int code_for(m4cxr_status st, bool input_side) {
  switch (st) {
    case M4CXR_ERR_INVALID_ARGUMENT: return kUsage;
    case M4CXR_ERR_IO:
    case M4CXR_ERR_FORMAT:
    case M4CXR_ERR_LIMIT:
    case M4CXR_ERR_UNSUPPORTED: return input_side ? kInput : kModel;
    case M4CXR_ERR_MODEL: return kModel;
    default: return kOther;
  }
}

void check(m4cxr_status st, const std::string& what, bool input_side) {
  if (st != M4CXR_OK) throw Failure{code_for(st, input_side), what + ": " + m4cxr_last_error()};
}

bool stderr_tty() { return isatty(2) == 1; }

int progress_bar(double f, void*) {
  int w = 30, n = static_cast<int>(f * w);
  std::fprintf(stderr, "\rloading model [%.*s%*s] %3.0f%%", n, "##############################", w - n, "", f * 100);
  if (f >= 1.0) std::fprintf(stderr, "\r%*s\r", w + 30, "");
  return 0;
}

m4cxr_model* load_model(const Options& o) {
  if (o.model.empty()) throw UsageError{"--model DIR is required (or set M4CXR_MODEL)"};
  m4cxr_model_options mo;
  m4cxr_model_options_default(&mo);
  mo.dtype = (o.dtype == "fp32" || o.dtype == "float32") ? M4CXR_DTYPE_FLOAT32
             : o.dtype == "int8"                          ? M4CXR_DTYPE_INT8
                                                          : M4CXR_DTYPE_BFLOAT16;
  mo.device = o.device.c_str();
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  mo.threads = o.threads;
  if (cores > 0 && o.threads > cores) {
    std::fprintf(stderr, "m4cxr: --threads %d is more than the %d cores here; using %d\n", o.threads, cores, cores);
    mo.threads = cores;
  }
  mo.adapter_dir = o.adapter.empty() ? nullptr : o.adapter.c_str();
  if (stderr_tty()) mo.progress = progress_bar;
  m4cxr_model* m = nullptr;
  m4cxr_status st = m4cxr_model_load(o.model.c_str(), &mo, &m);
  if (st != M4CXR_OK)
    throw Failure{st == M4CXR_ERR_INVALID_ARGUMENT ? kUsage : kModel,
                  "cannot load the model from '" + o.model + "': " + m4cxr_last_error()};
  return m;
}

m4cxr_image* load_image(Handles& h, const std::string& path) {
  m4cxr_image* im = nullptr;
  check(m4cxr_image_from_file(h.model, path.c_str(), &im), "cannot read image '" + path + "'", true);
  h.images.push_back(im);
  return im;
}

// ---- DICOM studies (--dicom, --prior-dicom) ------------------------------------------
struct DicomStudies {
  std::map<std::string, std::vector<m4cxr_image*>> images;  // by image option, in report order
  std::map<std::string, std::vector<std::string>> paths;    // the same order
};

bool has_dicom_magic(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  char b[132];
  return f.read(b, sizeof b) && std::memcmp(b + 128, "DICM", 4) == 0;
}

// The files a --dicom value names: the file itself, or the Part-10 files under a folder
// (recursively, in path order: the "file order" views fall back to).
std::vector<std::string> dicom_files(const std::string& value) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(value, ec)) {
    if (!fs::exists(value, ec)) throw Failure{kInput, "cannot open DICOM '" + value + "'"};
    return {value};
  }
  std::vector<std::string> out;
  for (fs::recursive_directory_iterator it(value, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && has_dicom_magic(it->path())) out.push_back(it->path().string());
  if (ec) throw Failure{kInput, "cannot list DICOM folder '" + value + "': " + ec.message()};
  std::sort(out.begin(), out.end());
  if (out.empty()) throw Failure{kInput, "no DICOM Part-10 files in '" + value + "'"};
  return out;
}

// Reads the current and prior studies, checks them (one study each; the prior an
// earlier study of the same patient) and orders their views.
DicomStudies load_dicom(Handles& h, const Options& o) {
  DicomStudies st;
  if (o.dicom.empty() && o.prior_dicom.empty()) return st;
  m4cxr_dicom_options d;
  m4cxr_dicom_options_default(&d);
  d.conversion = o.dicom_conversion == "voi" ? M4CXR_DICOM_VOI
                 : o.dicom_conversion == "min_max" ? M4CXR_DICOM_MIN_MAX : M4CXR_DICOM_MIMIC_JPG;
  for (const auto& a : o.dicom_allow) {
    if (a == "multiframe") d.allow_multiframe = 1;
    if (a == "modality") d.allow_any_modality = 1;
    if (a == "color") d.allow_color = 1;
  }
  auto read = [&](const std::vector<std::string>& values, std::vector<m4cxr_image*>& ims, std::vector<std::string>& paths) {
    for (const auto& v : values) {
      for (const auto& f : dicom_files(v)) {
        m4cxr_image* im = nullptr;
        check(m4cxr_image_from_dicom_file(h.model, f.c_str(), &d, &im), "cannot read DICOM '" + f + "'", true);
        h.images.push_back(im);
        ims.push_back(im);
        paths.push_back(f);
      }
    }
  };
  std::vector<m4cxr_image*> cur, prior;
  std::vector<std::string> cur_paths, prior_paths;
  read(o.dicom, cur, cur_paths);
  read(o.prior_dicom, prior, prior_paths);
  if (cur.empty()) throw UsageError{"--prior-dicom needs the current study as --dicom"};
  std::vector<size_t> order(cur.size()), porder(prior.size());
  const m4cxr_status s = m4cxr_dicom_order_study(cur.data(), cur.size(), prior.empty() ? nullptr : prior.data(),
                                                 prior.size(), order.data(), prior.empty() ? nullptr : porder.data());
  if (s != M4CXR_OK) throw Failure{kInput, std::string("DICOM study: ") + m4cxr_last_error()};
  auto place = [&](const std::string& flag, const std::vector<size_t>& ord, const std::vector<m4cxr_image*>& ims,
                   const std::vector<std::string>& paths) {
    for (size_t i : ord) {
      st.images[flag].push_back(ims[i]);
      st.paths[flag].push_back(paths[i]);
      const char* view = "";
      m4cxr_image_get_dicom_field(ims[i], M4CXR_DICOM_VIEW, &view);
      std::fprintf(stderr, "m4cxr: %s %s %s\n", flag == "--image" ? "view" : "prior view",
                   (view && *view) ? view : "(view unknown)", paths[i].c_str());
    }
  };
  place("--image", order, cur, cur_paths);
  place("--prior-image", porder, prior, prior_paths);
  return st;
}

// A value that names an existing file is read; one that looks like a path (no spaces,
// a '/' or a file extension) but names no file is refused rather than taken as text.
std::string read_text_or_file(const std::string& flag, const std::string& v) {
  std::ifstream f(v);
  if (f) {
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  const size_t dot = v.rfind('.');
  const bool extension = dot != std::string::npos && dot + 1 < v.size() && v.size() - dot <= 5 &&
                         std::all_of(v.begin() + static_cast<long>(dot) + 1, v.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
  if (v.find(' ') == std::string::npos && (v.find('/') != std::string::npos || extension))
    throw Failure{kInput, flag + " '" + v + "' looks like a file name but there is no such file (give the text in quotes with spaces, or an existing file)"};
  return v;
}

m4cxr_generation_options generation(const Options& o) {
  m4cxr_generation_options g;
  m4cxr_generation_options_default(&g);
  g.max_new_tokens = o.max_new_tokens;
  g.do_sample = o.sample ? 1 : 0;
  g.temperature = static_cast<float>(o.temperature);
  g.top_k = o.top_k;
  g.top_p = static_cast<float>(o.top_p);
  g.seed = o.seed;
  g.constrained = o.constrained ? 1 : 0;
  if (o.logprobs >= 0) {
    g.logprobs = 1;
    g.top_logprobs = o.logprobs;
  }
  return g;
}

// ---- drawing ----------------------------------------------------------------------------
// A 3x5 pixel font (upper-case letters, digits, a few symbols) for box labels in --draw.
struct Glyph {
  char c;
  uint16_t bits;  // 15 bits, row-major, top-left first
};
const Glyph kFont[] = {
    {' ', 0x0000},
    {'(', 0x2922},
    {')', 0x224a},
    {',', 0x0014},
    {'-', 0x01c0},
    {'.', 0x0002},
    {'/', 0x12a4},
    {'0', 0x7b6f},
    {'1', 0x2c97},
    {'2', 0x62a7},
    {'3', 0x628e},
    {'4', 0x5bc9},
    {'5', 0x798e},
    {'6', 0x39ef},
    {'7', 0x7292},
    {'8', 0x7bef},
    {'9', 0x7bce},
    {'A', 0x2bed},
    {'B', 0x6bae},
    {'C', 0x3923},
    {'D', 0x6b6e},
    {'E', 0x79a7},
    {'F', 0x79a4},
    {'G', 0x396b},
    {'H', 0x5bed},
    {'I', 0x7497},
    {'J', 0x126a},
    {'K', 0x5bad},
    {'L', 0x4927},
    {'M', 0x5fed},
    {'N', 0x6b6d},
    {'O', 0x2b6a},
    {'P', 0x6ba4},
    {'Q', 0x2b73},
    {'R', 0x6bad},
    {'S', 0x388e},
    {'T', 0x7492},
    {'U', 0x5b6f},
    {'V', 0x5b6a},
    {'W', 0x5bfd},
    {'X', 0x5aad},
    {'Y', 0x5a92},
    {'Z', 0x72a7},
};

void draw_text(unsigned char* px, int w, int h, int x0, int y0, int scale, const std::string& text, const unsigned char* col) {
  int x = x0;
  for (char raw : text) {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(raw)));
    uint16_t bits = 0x7fff;  // unknown characters: a filled block
    for (const Glyph& g : kFont)
      if (g.c == c) bits = g.bits;
    for (int r = 0; r < 5; ++r)
      for (int k = 0; k < 3; ++k)
        if (bits & (1u << (14 - (r * 3 + k))))
          for (int dy = 0; dy < scale; ++dy)
            for (int dx = 0; dx < scale; ++dx) {
              const int xx = x + k * scale + dx, yy = y0 + r * scale + dy;
              if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
              unsigned char* p = px + 3 * (static_cast<size_t>(yy) * w + xx);
              p[0] = col[0], p[1] = col[1], p[2] = col[2];
            }
    x += 4 * scale;
  }
}

// The format --draw writes is the one its extension names: .png, .jpg/.jpeg, .bmp.
std::string draw_extension(const std::string& out) {
  const size_t dot = out.find_last_of('.');
  std::string ext = dot == std::string::npos ? "" : out.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (ext != ".png" && ext != ".jpg" && ext != ".jpeg" && ext != ".bmp")
    throw UsageError{"--draw " + out + ": name a .png, .jpg or .bmp file"};
  return ext;
}

void draw_boxes(const std::string& image_path, const std::vector<std::array<double, 4>>& boxes,
                const std::vector<std::string>& labels, const std::string& out) {
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(image_path.c_str(), &w, &h, &c, 3);
  if (px == nullptr) throw Failure{kInput, "cannot decode '" + image_path + "' for drawing"};
  const int t = std::max(1, std::min(w, h) / 200);  // line thickness grows with the image
  static const unsigned char colours[][3] = {{255, 40, 40}, {40, 220, 40}, {60, 120, 255}, {255, 200, 0}};
  for (size_t b = 0; b < boxes.size(); ++b) {
    const unsigned char* col = colours[b % 4];
    int x1 = std::max(0, static_cast<int>(boxes[b][0])), y1 = std::max(0, static_cast<int>(boxes[b][1]));
    int x2 = std::min(w - 1, static_cast<int>(boxes[b][2])), y2 = std::min(h - 1, static_cast<int>(boxes[b][3]));
    for (int y = y1; y <= y2; ++y)
      for (int x = x1; x <= x2; ++x) {
        bool edge = x - x1 < t || x2 - x < t || y - y1 < t || y2 - y < t;
        if (!edge) continue;
        unsigned char* p = px + 3 * (static_cast<size_t>(y) * w + x);
        p[0] = col[0], p[1] = col[1], p[2] = col[2];
      }
    if (b < labels.size() && !labels[b].empty()) {
      const int scale = std::max(1, std::min(w, h) / 150);
      const int ty = y1 - 6 * scale >= 0 ? y1 - 6 * scale : y1 + t + scale;  // above the box, else inside
      draw_text(px, w, h, x1, ty, scale, labels[b], col);
    }
  }
  const std::string ext = draw_extension(out);
  int ok;
  if (ext == ".jpg" || ext == ".jpeg") ok = stbi_write_jpg(out.c_str(), w, h, 3, px, 95);
  else if (ext == ".bmp") ok = stbi_write_bmp(out.c_str(), w, h, 3, px);
  else ok = stbi_write_png(out.c_str(), w, h, 3, px, w * 3);
  stbi_image_free(px);
  if (!ok) throw Failure{kInput, "cannot write '" + out + "'"};
}

// ---- running tasks ----------------------------------------------------------------------
struct Printer {
  bool stream;
  int last_turn = -1;
};

int print_piece(const char* piece, size_t n, int turn, void* ud) {
  auto* p = static_cast<Printer*>(ud);
  if (turn != p->last_turn) {
    if (p->last_turn >= 0) std::fputc('\n', stdout);
    p->last_turn = turn;
  }
  std::fwrite(piece, 1, n, stdout);
  std::fflush(stdout);
  return 0;
}

// Ctrl-C during an answer in `chat` stops that answer, not the program: the handler only
// raises a flag; a watcher thread turns it into m4cxr_task_cancel (not signal-safe).
std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

class StopOnInterrupt {
 public:
  explicit StopOnInterrupt(m4cxr_task* task) {
    g_interrupted.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous_);
    watcher_ = std::thread([this, task] {
      while (!done_.load()) {
        if (g_interrupted.exchange(false)) {
          m4cxr_task_cancel(task);
          stopped_.store(true);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  ~StopOnInterrupt() {
    done_.store(true);
    watcher_.join();
    sigaction(SIGINT, &previous_, nullptr);
  }
  bool stopped() const { return stopped_.load(); }

 private:
  struct sigaction previous_ {};
  std::atomic<bool> done_{false}, stopped_{false};
  std::thread watcher_;
};

// --fhir / --sr: the result as a FHIR bundle and a DICOM SR (m4cxr_result_to_fhir /
// _to_dicom_sr), written next to what the command prints; their paths go in the JSON.
void write_output(const std::string& path, const void* data, size_t size, const char* what) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  f.close();
  if (!f) throw Failure{kOther, std::string("cannot write the ") + what + " to '" + path + "'"};
  std::fprintf(stderr, "%s written to %s\n", what, path.c_str());
}

void export_documents(const m4cxr_result* r, const Options& o, nlohmann::ordered_json& j) {
  if (!o.fhir.empty()) {
    char* json = nullptr;
    check(m4cxr_result_to_fhir(r, nullptr, &json), "making the FHIR bundle");
    std::unique_ptr<char, void (*)(void*)> owned(json, m4cxr_free);
    write_output(o.fhir, json, std::strlen(json), "FHIR bundle");
    j["fhir"] = o.fhir;
  }
  if (!o.sr.empty()) {
    uint8_t* data = nullptr;
    size_t size = 0;
    check(m4cxr_result_to_dicom_sr(r, nullptr, &data, &size), "making the DICOM SR");
    std::unique_ptr<uint8_t, void (*)(void*)> owned(data, m4cxr_free);
    write_output(o.sr, data, size, "DICOM SR");
    j["sr"] = o.sr;
  }
}

nlohmann::ordered_json finish(m4cxr_task* task, const Options& o, const std::vector<std::string>& image_paths,
                      const std::vector<std::array<double, 4>>& extra_boxes = {}, bool interruptible = false) {
  Printer pr{o.stream && !o.json};
  if (stderr_tty() && !o.json) std::fprintf(stderr, "encoding image(s) and prompt...\r");
  m4cxr_status st;
  {
    std::unique_ptr<StopOnInterrupt> stop;
    if (interruptible) stop = std::make_unique<StopOnInterrupt>(task);
    st = m4cxr_task_run(task, pr.stream ? print_piece : nullptr, &pr);
    if (stop && stop->stopped()) std::fprintf(stderr, "\n(answer stopped)\n");
  }
  if (stderr_tty() && !o.json) std::fprintf(stderr, "%40s\r", "");
  if (st != M4CXR_OK) {
    std::string msg = m4cxr_last_error();
    m4cxr_task_free(task);
    throw Failure{code_for(st, false), "generation failed: " + msg};
  }
  m4cxr_result* r = nullptr;
  st = m4cxr_task_result(task, &r);
  m4cxr_task_free(task);
  check(st, "collecting the result");
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(m4cxr_result_json(r));  // keeps the library's key order
  try {
    export_documents(r, o, j);
  } catch (...) {
    m4cxr_result_free(r);
    throw;
  }
  m4cxr_stats stats;
  stats.struct_size = sizeof stats;
  m4cxr_result_get_stats(r, &stats);
  m4cxr_result_free(r);
  if (!o.json) {
    if (!pr.stream) {
      for (size_t t = 0; t < j["turns"].size(); ++t)
        std::printf("%s%s", t ? "\n" : "", j["turns"][t]["text"].get<std::string>().c_str());
    }
    std::printf("\n");
    if (!j["findings"].empty()) {
      std::printf("findings:");
      for (const auto& f : j["findings"]) std::printf(" %s;", f.get<std::string>().c_str());
      std::printf("\n");
    }
    if (j.contains("label_scores")) {  // every candidate, most likely first
      std::vector<std::pair<double, std::string>> scores;
      for (const auto& [label, score] : j["label_scores"].items()) scores.emplace_back(score.get<double>(), label);
      std::stable_sort(scores.begin(), scores.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      std::printf("scores:");
      for (const auto& [score, label] : scores) std::printf(" %s %.3g;", label.c_str(), score);
      std::printf("\n");
    }
    for (const auto& b : j["boxes"])
      std::printf("box %s: model [%d,%d,%d,%d] pixels [%.0f,%.0f,%.0f,%.0f] p %.3g\n", b["label"].get<std::string>().c_str(),
                  b["model"][0].get<int>(), b["model"][1].get<int>(), b["model"][2].get<int>(), b["model"][3].get<int>(),
                  b["pixels"][0].get<double>(), b["pixels"][1].get<double>(), b["pixels"][2].get<double>(),
                  b["pixels"][3].get<double>(), b["probability"].get<double>());
    const double s = stats.decode_ms / 1000.0;
    std::fprintf(stderr, "%lld tokens generated (%.1f tokens/s), image %.0f ms, prefill %.0f ms, decode %.0f ms%s\n",
                 static_cast<long long>(stats.generated_tokens), s > 0 ? stats.generated_tokens / s : 0.0,
                 stats.image_encode_ms, stats.prefill_ms, stats.decode_ms, stats.cancelled ? " (cancelled)" : "");
  }
  j["images"] = image_paths;
  if (!o.draw.empty()) {
    if (image_paths.empty()) throw UsageError{"--draw needs an image"};
    std::vector<std::array<double, 4>> boxes = extra_boxes;
    // Input boxes (identify) are labelled with the model's answer, predicted ones with theirs.
    std::vector<std::string> labels(extra_boxes.size(), j["text"].get<std::string>().substr(0, 40));
    for (const auto& b : j["boxes"])
      if (b["image_index"].get<int>() == 0) {
        boxes.push_back({b["pixels"][0].get<double>(), b["pixels"][1].get<double>(), b["pixels"][2].get<double>(),
                         b["pixels"][3].get<double>()});
        labels.push_back(b["label"].get<std::string>());
      }
    if (boxes.empty()) std::fprintf(stderr, "m4cxr: no box was found; %s shows the image only\n", o.draw.c_str());
    draw_boxes(image_paths.front(), boxes, labels, o.draw);
    j["drawn"] = {{"path", o.draw}, {"boxes", boxes.size()}};
  }
  if (o.json) std::printf("%s\n", j.dump(o.json_pretty ? 2 : -1).c_str());
  return j;
}

int run_info(const Options& o) {
  Handles h;
  h.model = load_model(o);
  m4cxr_model_info info;
  info.struct_size = sizeof info;
  check(m4cxr_model_get_info(h.model, &info), "model info");
  nlohmann::ordered_json j = {{"model", o.model},
                              {"m4cxr_version", m4cxr_version_string()},
                              {"dtype", info.dtype == M4CXR_DTYPE_FLOAT32 ? "float32"
                                        : info.dtype == M4CXR_DTYPE_INT8  ? "int8"
                                                                          : "bfloat16"},
                              {"device", info.device},
                              {"image_size", info.image_size},
                              {"visual_tokens_per_image", info.visual_tokens_per_image},
                              {"vision", {{"layers", info.vision_layers}, {"hidden", info.vision_hidden}}},
                              {"text", {{"layers", info.text_layers}, {"hidden", info.text_hidden}, {"vocab", info.vocab_size}}},
                              {"weight_bytes", info.weight_bytes},
                              {"lora_pairs_merged", info.lora_pairs_merged}};
  if (o.json) {
    std::printf("%s\n", j.dump(o.json_pretty ? 2 : -1).c_str());
  } else {
    for (auto it = j.begin(); it != j.end(); ++it) std::printf("%-24s %s\n", it.key().c_str(), it.value().dump().c_str());
  }
  return kOk;
}

int run_trace(const Options& o) {
  if (o.out.empty() || o.prompt.empty()) throw UsageError{"trace needs --prompt TEXT and --out DIR"};
  Handles h;
  h.model = load_model(o);
  for (const auto& p : o.images) load_image(h, p);
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);  // no shell: any folder name is just a name
  if (ec || !std::filesystem::is_directory(o.out)) throw Failure{kInput, "cannot create '" + o.out + "': " + ec.message()};
  check(m4cxr_trace(h.model, h.images.data(), h.images.size(), o.prompt.c_str(), o.out.c_str()), "trace");
  std::fprintf(stderr, "wrote every stage to %s\n", o.out.c_str());
  return kOk;
}

std::array<double, 4> parse_box(const std::string& s) {
  auto parts = split_list(s);
  if (parts.size() != 4) throw UsageError{"--box expects x1,y1,x2,y2 in pixels, got '" + s + "'"};
  std::array<double, 4> b;
  for (int i = 0; i < 4; ++i) b[i] = to_double("--box", parts[i]);
  return b;
}

// Picks the command's task whose required options are all given and that knows every
// given option (and, where the table says so, its `select` option is given).
const nlohmann::json& pick_task(const Options& o) {
  std::set<std::string> given;
  for (const auto& [flag, value] : o.task) given.insert(flag);
  const auto candidates = tasks_of(o.command);
  std::string needs;
  for (const nlohmann::json* t : candidates) {
    std::set<std::string> known;
    bool ok = true;
    std::string required;
    for (const auto& a : (*t)["args"]) {
      const std::string flag = a["cli"];
      known.insert(flag);
      const bool has_default = a.contains("default") || a.contains("cli_default");
      if (!has_default) required += " " + flag + (a["type"] == "flag" ? "" : " ...");
      if (!has_default && !given.count(flag)) ok = false;
    }
    const auto& cli = (*t)["cli"];
    if (cli.contains("select")) {
      required += " " + cli["select"].get<std::string>() + " ...";
      if (!given.count(cli["select"].get<std::string>())) ok = false;
    }
    for (const auto& f : given) ok = ok && known.count(f);
    if (ok) return *t;
    needs += "\n  " + (*t)["name"].get<std::string>() + ":" + required;
  }
  throw UsageError{o.command + " needs the options of one of its tasks:" + needs};
}

// Converts the given options into the task's named arguments (images are loaded here).
void fill_args(Handles& h, const Options& o, const nlohmann::json& task, m4cxr_task_args* args,
               std::vector<std::array<double, 4>>* in_boxes, const DicomStudies& dicom) {
  for (const auto& a : task["args"]) {
    const std::string name = a["name"], flag = a["cli"], type = a["type"];
    std::vector<std::string> values;
    for (const auto& [f, v] : o.task)
      if (f == flag) values.push_back(v);
    if (values.empty() && a.contains("cli_default")) values.push_back(a["cli_default"]);
    if (values.empty()) continue;  // the table's default
    const bool list = type == "images" || type == "texts" || type == "boxes";
    if (!list && values.size() > 1) throw UsageError{flag + " may be given once"};
    bool dicom_added = false;
    for (const auto& v : values) {
      if (is_dicom_value(v)) {  // the whole study, ordered, once
        if (type != "image" && type != "images") throw UsageError{"--dicom fills image options only"};
        if (dicom_added) continue;
        dicom_added = true;
        const auto it = dicom.images.find(flag);
        if (it == dicom.images.end()) throw UsageError{"DICOM images for " + flag + " were not loaded"};
        for (m4cxr_image* im : it->second) check(m4cxr_task_args_add_image(args, name.c_str(), im), "argument " + name);
      } else if (type == "image" || type == "images") {
        check(m4cxr_task_args_add_image(args, name.c_str(), load_image(h, v)), "argument " + name);
      } else if (type == "texts") {
        const auto items = split_list(v);
        if (items.empty()) throw UsageError{flag + " '" + v + "' holds no names"};
        for (const auto& item : items) check(m4cxr_task_args_add_text(args, name.c_str(), item.c_str()), "argument " + name);
      } else if (type == "boxes") {
        const auto b = parse_box(v);
        in_boxes->push_back(b);
        check(m4cxr_task_args_add_box(args, name.c_str(), b.data()), "argument " + name);
      } else if (type == "flag") {
        check(m4cxr_task_args_set_flag(args, name.c_str(), 1), "argument " + name);
      } else {
        const std::string text = a.value("cli_file_or_text", false) ? read_text_or_file(flag, v) : v;
        check(m4cxr_task_args_add_text(args, name.c_str(), text.c_str()), "argument " + name);
      }
    }
  }
}

// cli.h's form (batch items): the DICOM studies the options name are read here.
void fill_args(Handles& h, const Options& o, const nlohmann::json& task, m4cxr_task_args* args,
               std::vector<std::array<double, 4>>* in_boxes) {
  fill_args(h, o, task, args, in_boxes, load_dicom(h, o));
}

struct ArgsHandle {
  m4cxr_task_args* p = nullptr;
  ~ArgsHandle() { m4cxr_task_args_free(p); }
};

int run_task(const Options& o) {
  const nlohmann::json& task = pick_task(o);
  if (!o.draw.empty()) draw_extension(o.draw);  // before the model runs
  // Check what can be checked before the (slow) model load so typos fail fast.
  std::vector<std::array<double, 4>> in_boxes;
  for (const auto& a : task["args"]) {
    for (const auto& [flag, value] : o.task) {
      if (flag != a["cli"]) continue;
      if (a["type"] == "boxes") parse_box(value);
      if ((a["type"] == "image" || a["type"] == "images") && !is_dicom_value(value) && !std::ifstream(value))
        throw Failure{kInput, "cannot open image '" + value + "'"};
    }
  }
  for (const auto* list : {&o.dicom, &o.prior_dicom})
    for (const auto& p : *list)
      if (!std::filesystem::exists(p)) throw Failure{kInput, "cannot open DICOM '" + p + "'"};
  Handles h;
  h.model = load_model(o);
  check(m4cxr_session_create(h.model, &h.session), "creating a session");
  ArgsHandle args;
  check(m4cxr_task_args_create(&args.p), "task arguments");
  const DicomStudies dicom = load_dicom(h, o);
  fill_args(h, o, task, args.p, &in_boxes, dicom);
  const auto g = generation(o);
  m4cxr_task* t = nullptr;
  check(m4cxr_task_start(h.session, task["name"].get<std::string>().c_str(), args.p, &g, &t), "starting " + o.command,
        true);
  finish(t, o, o.dicom.empty() ? o.images : dicom.paths.at("--image"), in_boxes);
  return kOk;
}

int run_chat(const Options& o) {
  Handles h;
  h.model = load_model(o);
  check(m4cxr_session_create(h.model, &h.session), "creating a session");
  std::vector<m4cxr_image*> pending;  // attached to the next turn
  std::vector<std::string> pending_paths, shown_paths;
  for (const auto& p : o.images) {
    pending.push_back(load_image(h, p));
    pending_paths.push_back(p);
  }
  const bool tty = isatty(0) == 1;
  const auto g = generation(o);
  std::string line;
  while (true) {
    if (tty) std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/quit" || line == "/exit") break;
    try {
      m4cxr_task* t = nullptr;
      if (line == "/reset") {
        check(m4cxr_session_reset(h.session), "reset");
        pending.clear();
        pending_paths.clear();
        shown_paths.clear();
        std::fprintf(stderr, "conversation cleared\n");
        continue;
      }
      if (line.rfind("/image ", 0) == 0) {
        std::string p = line.substr(7);
        pending.push_back(load_image(h, p));
        pending_paths.push_back(p);
        std::fprintf(stderr, "image attached to the next turn: %s\n", p.c_str());
        continue;
      }
      if (line == "/report") {
        if (pending.empty()) throw Failure{kUsage, "/report needs an image (--image or /image PATH)"};
        check(m4cxr_report(h.session, pending.data(), pending.size(), &g, &t), "report");
      } else if (line[0] == '/') {
        std::fprintf(stderr, "commands: /report, /image PATH, /reset, /quit\n");
        continue;
      } else {
        check(m4cxr_chat(h.session, line.c_str(), pending.data(), pending.size(), &g, &t), "chat");
      }
      shown_paths.insert(shown_paths.end(), pending_paths.begin(), pending_paths.end());
      pending.clear();
      pending_paths.clear();
      Options turn = o;
      turn.draw.clear();
      finish(t, turn, shown_paths, {}, true);
    } catch (const Failure& f) {
      std::fprintf(stderr, "m4cxr: %s\n", f.message.c_str());  // keep chatting
    }
  }
  return kOk;
}

}  // namespace m4cxr_cli

using namespace m4cxr_cli;

int main(int argc, char** argv) {
  try {
    Options o = parse(argc, argv);
    if (o.version) {
      std::printf("m4cxr %s (C ABI %d)\n", m4cxr_version_string(), m4cxr_abi_version());
      return kOk;
    }
    if (o.help && (kCommandHelp.count(o.command) || !tasks_of(o.command).empty())) {
      const std::string help = kCommandHelp.count(o.command) ? kCommandHelp.at(o.command) : task_command_help(o.command);
      std::printf("%s%s", help.c_str(), kOptionsText);
      return kOk;
    }
    if (o.help || o.command.empty() || o.command == "help") {
      std::fputs(usage_text().c_str(), o.help || o.command == "help" ? stdout : stderr);
      return (o.help || o.command == "help") ? kOk : kUsage;
    }
    const bool known = o.command == "batch" || o.command == "chat" || o.command == "info" || o.command == "trace" || !tasks_of(o.command).empty();
    if (!known) throw UsageError{"unknown command '" + o.command + "'"};
    if (o.command == "batch") return run_batch(o);
    if (o.command == "info") return run_info(o);
    if (o.command == "trace") return run_trace(o);
    if (o.command == "chat") return run_chat(o);
    return run_task(o);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "m4cxr: %s (see m4cxr --help)\n", e.message.c_str());
    return kUsage;
  } catch (const Failure& f) {
    std::fprintf(stderr, "m4cxr: %s\n", f.message.c_str());
    return f.code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "m4cxr: %s\n", e.what());
    return kOther;
  }
}
