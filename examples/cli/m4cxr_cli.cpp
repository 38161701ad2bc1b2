// m4cxr - every M4CXR task from a terminal, built on the public C API only.
// Exit codes: 0 success, 2 usage error, 3 unreadable input (file, image, report),
// 4 model error (checkpoint cannot be loaded or run), 1 anything else.
#include <m4cxr/m4cxr.h>
#include <m4cxr/m4cxr_debug.h>  // m4cxr_trace for the trace command
#include <stb_image.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

enum Exit { kOk = 0, kOther = 1, kUsage = 2, kInput = 3, kModel = 4 };

struct UsageError {
  std::string message;
};
struct Failure {
  int code;
  std::string message;
};

const char* kUsageText =
    "usage: m4cxr <command> --model DIR [options]\n"
    "commands:\n"
    "  report    chain-of-thought report: --image P [--image P ...] (views of one study),\n"
    "            or a follow-up: --prior-image P ... --prior-report FILE|TEXT --image P ...\n"
    "  classify  disease classification: --image P [--labels \"a,b,c\"]\n"
    "  ground    boxes for --finding X | --findings \"a,b\" | --phrase X | --organ X | --region X, with --image P\n"
    "  detect    abnormality detection: --image P\n"
    "  identify  name a region: --image P --box x1,y1,x2,y2 [--box ...] [--what finding|organ|region|phrase]\n"
    "  vqa       --image P --question Q [--reference P for difference VQA]\n"
    "  chat      interactive: [--image P ...]; type questions; /report, /image PATH, /reset, /quit\n"
    "  info      model summary\n"
    "  trace     --image P ... --prompt TEXT --out DIR: every stage as .npy\n"
    "options:\n"
    "  --model DIR           checkpoint folder (or $M4CXR_MODEL)\n"
    "  --adapter DIR         PEFT adapter folder\n"
    "  --dtype bf16|fp32     weights/compute precision (default bf16)\n"
    "  --device D            cpu (default), cuda, cuda:N\n"
    "  --threads N           intra-op threads (default: all cores)\n"
    "  --max-new-tokens N    per turn (default 500)\n"
    "  --temperature T --top-p P --top-k K --seed S   sample instead of greedy\n"
    "  --json                print one JSON document (findings, boxes, text, timings, replay)\n"
    "  --no-stream           do not stream tokens\n"
    "  --draw OUT.png        write the image with the boxes drawn on it\n"
    "  --help                this text\n";

// Per-command help: synopsis and what the command does (common options follow).
const std::map<std::string, std::string> kCommandHelp = {
    {"report", "usage: m4cxr report --model DIR --image P [--image P ...]\n"
               "       m4cxr report --model DIR --prior-image P [...] --prior-report FILE|TEXT --image P [...]\n"
               "Chain-of-thought report: turn 1 lists the present CheXbert findings, turn 2 writes the report.\n"
               "Several --image are views of one study (up to 5); a follow-up adds the prior study and its report.\n"},
    {"classify", "usage: m4cxr classify --model DIR --image P [--labels \"a,b,c\"]\n"
                 "Disease classification over the labels (default: the 13 CheXbert findings).\n"},
    {"ground", "usage: m4cxr ground --model DIR --image P (--finding X | --findings \"a,b\" | --phrase X | --organ X | --region X)\n"
               "Boxes for a finding, several findings, a report phrase, an organ or an anatomical region.\n"},
    {"detect", "usage: m4cxr detect --model DIR --image P\nBoxes of abnormal regions.\n"},
    {"identify", "usage: m4cxr identify --model DIR --image P --box x1,y1,x2,y2 [--box ...] [--what finding|organ|region|phrase]\n"
                 "Names what is inside the box(es), given in original-image pixels.\n"},
    {"vqa", "usage: m4cxr vqa --model DIR --image P --question Q [--reference P]\n"
            "Visual question answering; with --reference, difference VQA against the earlier image.\n"},
    {"chat", "usage: m4cxr chat --model DIR [--image P ...]\n"
             "Reads one user turn per line from stdin: free questions continue the conversation;\n"
             "/report runs the report on the attached images, /image PATH attaches an image to the next turn,\n"
             "/reset clears the conversation, /quit ends.\n"},
    {"info", "usage: m4cxr info --model DIR [--json]\nModel summary (dimensions, dtype, device, weights).\n"},
    {"trace", "usage: m4cxr trace --model DIR --image P [...] --prompt TEXT --out DIR\n"
              "Writes every stage (pixels, vision hidden states, abstractor stages, visual tokens, prompt ids,\n"
              "input embeddings, logits) as .npy files for comparison with the Python reference.\n"},
};

struct Options {
  std::string command, model, adapter, dtype = "bf16", device = "cpu", out, prompt, question, what = "finding";
  std::string finding, findings, phrase, organ, region, labels, prior_report, reference, draw;
  std::vector<std::string> images, prior_images, boxes;
  int threads = 0, max_new_tokens = 500, top_k = 50;
  double temperature = 1.0, top_p = 1.0;
  uint64_t seed = 0;
  bool sample = false, json = false, stream = true, help = false;
};

int to_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0') throw UsageError{flag + " expects an integer, got '" + v + "'"};
  return static_cast<int>(x);
}

double to_double(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') throw UsageError{flag + " expects a number, got '" + v + "'"};
  return x;
}

Options parse(int argc, char** argv) {
  Options o;
  if (const char* env = std::getenv("M4CXR_MODEL")) o.model = env;
  std::vector<std::string> a(argv + 1, argv + argc);
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
    else if (f == "--threads") o.threads = to_int(f, value(f));
    else if (f == "--max-new-tokens") o.max_new_tokens = to_int(f, value(f));
    else if (f == "--temperature") o.temperature = to_double(f, value(f)), o.sample = true;
    else if (f == "--top-p") o.top_p = to_double(f, value(f)), o.sample = true;
    else if (f == "--top-k") o.top_k = to_int(f, value(f)), o.sample = true;
    else if (f == "--seed") o.seed = static_cast<uint64_t>(to_int(f, value(f))), o.sample = true;
    else if (f == "--json") o.json = true;
    else if (f == "--no-stream") o.stream = false;
    else if (f == "--draw") o.draw = value(f);
    else if (f == "--image") o.images.push_back(value(f));
    else if (f == "--prior-image") o.prior_images.push_back(value(f));
    else if (f == "--prior-report") o.prior_report = value(f);
    else if (f == "--labels") o.labels = value(f);
    else if (f == "--finding") o.finding = value(f);
    else if (f == "--findings") o.findings = value(f);
    else if (f == "--phrase") o.phrase = value(f);
    else if (f == "--organ") o.organ = value(f);
    else if (f == "--region") o.region = value(f);
    else if (f == "--box") o.boxes.push_back(value(f));
    else if (f == "--what") o.what = value(f);
    else if (f == "--question") o.question = value(f);
    else if (f == "--reference") o.reference = value(f);
    else if (f == "--prompt") o.prompt = value(f);
    else if (f == "--out") o.out = value(f);
    else if (!f.empty() && f[0] == '-') throw UsageError{"unknown option " + f};
    else if (o.command.empty()) o.command = f;
    else throw UsageError{"unexpected argument '" + f + "'"};
  }
  if (o.dtype != "bf16" && o.dtype != "fp32" && o.dtype != "bfloat16" && o.dtype != "float32")
    throw UsageError{"--dtype must be bf16 or fp32"};
  if (o.max_new_tokens < 1) throw UsageError{"--max-new-tokens must be at least 1"};
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

int code_for(m4cxr_status st, bool input_side) {
  switch (st) {
    case M4CXR_ERR_INVALID_ARGUMENT: return kUsage;
    case M4CXR_ERR_IO:
    case M4CXR_ERR_FORMAT:
    case M4CXR_ERR_LIMIT: return input_side ? kInput : kModel;
    case M4CXR_ERR_MODEL:
    case M4CXR_ERR_UNSUPPORTED: return kModel;
    default: return kOther;
  }
}

void check(m4cxr_status st, const std::string& what, bool input_side = false) {
  if (st != M4CXR_OK) throw Failure{code_for(st, input_side), what + ": " + m4cxr_last_error()};
}

bool stderr_tty() { return isatty(2) == 1; }

// ---- resources (RAII over the C handles) --------------------------------------------
struct Handles {
  m4cxr_model* model = nullptr;
  m4cxr_session* session = nullptr;
  std::vector<m4cxr_image*> images;
  ~Handles() {
    m4cxr_session_free(session);
    for (auto* im : images) m4cxr_image_free(im);
    m4cxr_model_free(model);
  }
};

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
  mo.dtype = (o.dtype == "fp32" || o.dtype == "float32") ? M4CXR_DTYPE_FLOAT32 : M4CXR_DTYPE_BFLOAT16;
  mo.device = o.device.c_str();
  mo.threads = o.threads;
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

std::string read_text_or_file(const std::string& v) {
  std::ifstream f(v);
  if (!f) return v;  // not a file: the text itself
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
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
  int ok = stbi_write_png(out.c_str(), w, h, 3, px, w * 3);
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

nlohmann::json finish(m4cxr_task* task, const Options& o, const std::vector<std::string>& image_paths,
                      const std::vector<std::array<double, 4>>& extra_boxes = {}) {
  Printer pr{o.stream && !o.json};
  if (stderr_tty() && !o.json) std::fprintf(stderr, "encoding image(s) and prompt...\r");
  m4cxr_status st = m4cxr_task_run(task, pr.stream ? print_piece : nullptr, &pr);
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
  nlohmann::json j = nlohmann::json::parse(m4cxr_result_json(r));
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
    for (const auto& b : j["boxes"])
      std::printf("box %s: model [%d,%d,%d,%d] pixels [%.0f,%.0f,%.0f,%.0f]\n", b["label"].get<std::string>().c_str(),
                  b["model"][0].get<int>(), b["model"][1].get<int>(), b["model"][2].get<int>(), b["model"][3].get<int>(),
                  b["pixels"][0].get<double>(), b["pixels"][1].get<double>(), b["pixels"][2].get<double>(),
                  b["pixels"][3].get<double>());
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
    draw_boxes(image_paths.front(), boxes, labels, o.draw);
    j["drawn"] = {{"path", o.draw}, {"boxes", boxes.size()}};
  }
  if (o.json) std::printf("%s\n", j.dump(2).c_str());
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
                              {"dtype", info.dtype == M4CXR_DTYPE_FLOAT32 ? "float32" : "bfloat16"},
                              {"device", info.device},
                              {"image_size", info.image_size},
                              {"visual_tokens_per_image", info.visual_tokens_per_image},
                              {"vision", {{"layers", info.vision_layers}, {"hidden", info.vision_hidden}}},
                              {"text", {{"layers", info.text_layers}, {"hidden", info.text_hidden}, {"vocab", info.vocab_size}}},
                              {"weight_bytes", info.weight_bytes},
                              {"lora_pairs_merged", info.lora_pairs_merged}};
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
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
  std::string cmd = "mkdir -p '" + o.out + "'";
  if (o.out.find('\'') != std::string::npos || std::system(cmd.c_str()) != 0)
    throw Failure{kInput, "cannot create '" + o.out + "'"};
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

int run_task(const Options& o) {
  const std::string& c = o.command;
  Handles h;
  if (o.images.empty() && c != "chat") throw UsageError{c + " needs --image PATH"};
  if (c == "report" && !o.prior_images.empty() && o.prior_report.empty())
    throw UsageError{"a follow-up report needs --prior-report FILE|TEXT"};
  if (c == "ground" && o.finding.empty() && o.findings.empty() && o.phrase.empty() && o.organ.empty() && o.region.empty())
    throw UsageError{"ground needs one of --finding, --findings, --phrase, --organ, --region"};
  if (c == "identify" && o.boxes.empty()) throw UsageError{"identify needs --box x1,y1,x2,y2"};
  if (c == "vqa" && o.question.empty()) throw UsageError{"vqa needs --question TEXT"};
  std::vector<std::array<double, 4>> in_boxes;
  for (const auto& b : o.boxes) in_boxes.push_back(parse_box(b));
  m4cxr_box_question what = M4CXR_NAME_FINDING;
  if (c == "identify") {
    static const std::map<std::string, m4cxr_box_question> kinds = {
        {"finding", M4CXR_NAME_FINDING}, {"organ", M4CXR_NAME_ORGAN}, {"region", M4CXR_NAME_REGION}, {"phrase", M4CXR_NAME_PHRASE}};
    auto it = kinds.find(o.what);
    if (it == kinds.end()) throw UsageError{"--what must be finding, organ, region or phrase"};
    what = it->second;
  }
  // Read inputs before the (slow) model load so typos fail fast.
  for (const auto& p : o.images)
    if (!std::ifstream(p)) throw Failure{kInput, "cannot open image '" + p + "'"};
  for (const auto& p : o.prior_images)
    if (!std::ifstream(p)) throw Failure{kInput, "cannot open image '" + p + "'"};

  h.model = load_model(o);
  check(m4cxr_session_create(h.model, &h.session), "creating a session");
  std::vector<m4cxr_image*> current, prior;
  for (const auto& p : o.images) current.push_back(load_image(h, p));
  for (const auto& p : o.prior_images) prior.push_back(load_image(h, p));
  const auto g = generation(o);
  m4cxr_task* t = nullptr;
  auto start = [&](m4cxr_status st) { check(st, "starting " + c); };
  if (c == "report") {
    if (prior.empty()) start(m4cxr_report(h.session, current.data(), current.size(), &g, &t));
    else {
      std::string rep = read_text_or_file(o.prior_report);
      start(m4cxr_report_followup(h.session, prior.data(), prior.size(), rep.c_str(), current.data(), current.size(), &g, &t));
    }
  } else if (c == "classify") {
    auto labels = split_list(o.labels);
    std::vector<const char*> lp;
    for (auto& l : labels) lp.push_back(l.c_str());
    start(m4cxr_classify(h.session, current[0], lp.data(), lp.size(), &g, &t));
  } else if (c == "ground") {
    if (!o.finding.empty()) start(m4cxr_ground_finding(h.session, current[0], o.finding.c_str(), &g, &t));
    else if (!o.findings.empty()) {
      auto f = split_list(o.findings);
      std::vector<const char*> fp;
      for (auto& x : f) fp.push_back(x.c_str());
      start(m4cxr_ground_findings(h.session, current[0], fp.data(), fp.size(), &g, &t));
    } else if (!o.phrase.empty()) start(m4cxr_ground_phrase(h.session, current[0], o.phrase.c_str(), &g, &t));
    else if (!o.organ.empty()) start(m4cxr_ground_organ(h.session, current[0], o.organ.c_str(), &g, &t));
    else start(m4cxr_ground_region(h.session, current[0], o.region.c_str(), &g, &t));
  } else if (c == "detect") {
    start(m4cxr_detect_abnormalities(h.session, current[0], &g, &t));
  } else if (c == "identify") {
    std::vector<double> flat;
    for (const auto& b : in_boxes) flat.insert(flat.end(), b.begin(), b.end());
    start(m4cxr_identify_region(h.session, current[0], what, flat.data(), in_boxes.size(), &g, &t));
  } else if (c == "vqa") {
    if (!o.reference.empty()) {
      m4cxr_image* ref = load_image(h, o.reference);
      start(m4cxr_difference_vqa(h.session, ref, current[0], o.question.c_str(), &g, &t));
    } else {
      start(m4cxr_vqa(h.session, current[0], o.question.c_str(), &g, &t));
    }
  }
  finish(t, o, o.images, in_boxes);
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
      finish(t, turn, shown_paths);
    } catch (const Failure& f) {
      std::fprintf(stderr, "m4cxr: %s\n", f.message.c_str());  // keep chatting
    }
  }
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options o = parse(argc, argv);
    if (o.help && kCommandHelp.count(o.command)) {
      const std::string& u = kUsageText;
      std::printf("%s%s", kCommandHelp.at(o.command).c_str(), u.substr(u.find("options:")).c_str());
      return kOk;
    }
    if (o.help || o.command.empty() || o.command == "help") {
      std::fputs(kUsageText, o.help || o.command == "help" ? stdout : stderr);
      return (o.help || o.command == "help") ? kOk : kUsage;
    }
    static const char* kCommands[] = {"report", "classify", "ground", "detect", "identify", "vqa", "chat", "info", "trace"};
    bool known = false;
    for (const char* k : kCommands) known = known || o.command == k;
    if (!known) throw UsageError{"unknown command '" + o.command + "'"};
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
