// mvc generate-docs --guide docs/user-guide.md [--man DIR] [--bash FILE] [--zsh FILE] (hidden)
// Writes the man pages (mvc.1 and mvc-COMMAND.1) and the bash and zsh completion scripts from
// the CLI11 definitions of the commands themselves, so that a new command gets its page and its
// completion with no other edit (docs/conventions.md, "Man pages and completion"). The build runs
// it (cmake/install.cmake). A command's DESCRIPTION is the user guide's section whose "## "
// heading names it ("## mvc commit ...", "## Remotes: mvc remote, push, fetch, pull"), else its
// one-line description.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/command.h"
#include "mvc/error.h"
#include "mvc/version.h"
#include "util/text.h"

namespace mvc::cli {

namespace {

namespace fs = std::filesystem;

std::vector<CLI::App*> visible_subcommands(CLI::App& app) {
  std::vector<CLI::App*> out;
  for (CLI::App* sub : app.get_subcommands([](CLI::App* s) { return !s->get_group().empty(); })) out.push_back(sub);
  return out;
}

bool is_flag(const CLI::Option* o) { return o->get_expected_max() == 0; }
bool is_positional(const CLI::Option* o) { return o->get_positional() && !o->nonpositional(); }

std::vector<const CLI::Option*> options_of(const CLI::App& app, bool positional) {
  return app.get_options([positional](const CLI::Option* o) { return is_positional(o) == positional; });
}

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

std::string positional_name(const CLI::Option* o) {
  std::string n = upper(o->get_name());
  if (o->get_items_expected_max() > 1) n += "...";
  return n;
}

std::string value_name(const CLI::Option* o) {
  std::string t = o->get_type_name();
  return t.empty() ? "VALUE" : t;
}

// --- roff -------------------------------------------------------------------------------------

/// Text for a roff line: backslashes escaped, '-' as \- (so that man pages' options can be
/// searched and copied), a leading '.' or '\'' protected.
std::string roff_text(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else if (c >= 0x80) {  // UTF-8 as \[uXXXX]: troff reads its input as Latin-1
      int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      unsigned cp = len == 1 ? c : c & (0x3F >> (len - 1));
      for (int k = 1; k < len && i + 1 < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F);
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\[u%04X]", cp);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

/// Markdown inline markup to roff: `code` and **bold** in bold.
std::string roff_inline(const std::string& s) {
  std::string out, plain;
  auto flush = [&] {
    out += roff_text(plain);
    plain.clear();
  };
  bool code = false, bold = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '`') {
      flush();
      out += code ? "\\fR" : "\\fB";
      code = !code;
    } else if (!code && s.compare(i, 2, "**") == 0) {
      flush();
      out += bold ? "\\fR" : "\\fB";
      bold = !bold;
      ++i;
    } else if (!code && s[i] == '\\' && i + 1 < s.size() && std::string("|*_`[]").find(s[i + 1]) != std::string::npos) {
      plain += s[++i];  // markdown escape: the character itself
    } else {
      plain += s[i];
    }
  }
  flush();
  if (code || bold) out += "\\fR";
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

/// A markdown section body (paragraphs, lists, fenced code, tables, ### headings) as roff.
std::string markdown_to_roff(const std::vector<std::string>& lines) {
  std::ostringstream out;
  bool fence = false, para = true;
  for (const std::string& raw : lines) {
    std::string line = raw;
    if (line.rfind("```", 0) == 0) {
      out << (fence ? ".fi\n.RE\n" : ".PP\n.RS 4\n.nf\n");
      fence = !fence;
      para = true;
      continue;
    }
    if (fence) {
      out << roff_text(line) << "\n";
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) {
      para = true;
      continue;
    }
    if (line.rfind("### ", 0) == 0) {
      out << ".SS " << roff_inline(line.substr(4)) << "\n";
      para = false;
      continue;
    }
    if (line.rfind("|", 0) == 0) {  // table rows: kept as lines, the separator row dropped
      if (line.find_first_not_of("|-: ") == std::string::npos) continue;
      if (para) out << ".PP\n";
      out << ".br\n" << roff_inline(line) << "\n";
      para = false;
      continue;
    }
    std::size_t indent = line.find_first_not_of(' ');
    if (line.compare(indent, 2, "- ") == 0 || line.compare(indent, 2, "* ") == 0) {
      out << ".IP \\(bu 2\n" << roff_inline(line.substr(indent + 2)) << "\n";
      para = false;
      continue;
    }
    std::size_t digits = line.find_first_not_of("0123456789", indent);
    if (digits != indent && digits != std::string::npos && line.compare(digits, 2, ". ") == 0) {
      out << ".IP " << line.substr(indent, digits + 1 - indent) << " 4\n"
          << roff_inline(line.substr(digits + 2)) << "\n";
      para = false;
      continue;
    }
    if (para) out << ".PP\n";
    out << roff_inline(line.substr(indent)) << "\n";
    para = false;
  }
  if (fence) out << ".fi\n.RE\n";
  return out.str();
}

// --- the user guide ---------------------------------------------------------------------------

struct GuideSection {
  std::string heading;  // "mvc commit PATH... -m MSG [--tag NAME] ..."
  std::vector<std::string> body;
};

std::vector<GuideSection> read_guide(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(Exit::failure, file.string() + ": cannot read the user guide");
  std::vector<GuideSection> out;
  out.push_back({"", {}});  // the introduction
  std::string line;
  bool fence = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) fence = !fence;
    if (!fence && line.rfind("## ", 0) == 0) {
      out.push_back({line.substr(3), {}});
      continue;
    }
    if (!fence && line.rfind("# ", 0) == 0) continue;  // the title
    out.back().body.push_back(line);
  }
  return out;
}

/// The commands a guide heading names: the words after "mvc " separated by ", " or " / ",
/// taken while they are command names ("Remotes: mvc remote, push, fetch, pull").
std::vector<std::string> commands_named(const std::string& heading, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  std::size_t at = heading.find("mvc ");
  if (at == std::string::npos) return out;
  std::string rest = heading.substr(at + 4);
  std::string word;
  auto take = [&] {
    if (std::find(names.begin(), names.end(), word) != names.end()) out.push_back(word);
    word.clear();
  };
  for (char c : rest) {
    if (c == ',' || c == '/' || c == ' ') {
      take();
    } else {
      word += c;
    }
  }
  take();
  return out;
}

// --- man pages --------------------------------------------------------------------------------

void write_file(const fs::path& file, const std::string& text) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw Error(Exit::failure, file.string() + ": cannot write");
}

std::string th(const std::string& page) {
  return ".TH " + upper(page) + " 1 \"\" \"mvc " + MVC_VERSION_STRING + "\" \"mvc manual\"\n";
}

std::string synopsis(const std::string& prefix, const CLI::App& app) {
  std::string s = ".B " + roff_text(prefix) + "\n";
  std::string args;
  if (!options_of(app, false).empty()) args += "[\\fIOPTIONS\\fR]";
  auto subs = const_cast<CLI::App&>(app).get_subcommands([](CLI::App* x) { return !x->get_group().empty(); });
  if (!subs.empty()) args += std::string(args.empty() ? "" : " ") + "\\fICOMMAND\\fR";
  for (const CLI::Option* o : options_of(app, true)) {
    std::string n = "\\fI" + roff_text(positional_name(o)) + "\\fR";
    args += " " + (o->get_required() ? n : "[" + n + "]");
  }
  return s + args + "\n";
}

std::string options_section(const CLI::App& app) {
  std::ostringstream out;
  for (const CLI::Option* o : options_of(app, true))
    out << ".TP\n\\fI" << roff_text(positional_name(o)) << "\\fR\n" << roff_text(o->get_description()) << "\n";
  for (const CLI::Option* o : options_of(app, false)) {
    out << ".TP\n";
    bool first = true;
    for (const std::string& s : o->get_snames()) {
      out << (first ? "" : ", ") << "\\fB\\-" << roff_text(s) << "\\fR";
      first = false;
    }
    for (const std::string& l : o->get_lnames()) {
      out << (first ? "" : ", ") << "\\fB\\-\\-" << roff_text(l) << "\\fR";
      first = false;
    }
    if (!is_flag(o)) out << " \\fI" << roff_text(value_name(o)) << "\\fR";
    out << "\n" << roff_text(o->get_description()) << "\n";
  }
  return out.str();
}

std::string command_page(const std::string& name, CLI::App& cmd, const std::vector<const GuideSection*>& guide) {
  std::ostringstream out;
  out << th("mvc-" + name) << ".SH NAME\nmvc\\-" << roff_text(name) << " \\- " << roff_text(cmd.get_description())
      << "\n.SH SYNOPSIS\n";
  auto subs = visible_subcommands(cmd);
  out << synopsis("mvc " + name, cmd);
  for (CLI::App* sub : subs) out << ".br\n" << synopsis("mvc " + name + " " + sub->get_name(), *sub);
  out << ".SH DESCRIPTION\n";
  if (guide.empty()) out << roff_text(cmd.get_description()) << ".\n";
  for (const GuideSection* g : guide) {
    if (guide.size() > 1 || g->heading.rfind("mvc ", 0) != 0) out << ".SS " << roff_inline(g->heading) << "\n";
    out << markdown_to_roff(g->body);
  }
  if (!options_of(cmd, false).empty() || !options_of(cmd, true).empty()) out << ".SH OPTIONS\n" << options_section(cmd);
  if (!subs.empty()) {
    out << ".SH COMMANDS\n";
    for (CLI::App* sub : subs) {
      out << ".SS \"mvc " << roff_text(name + " " + sub->get_name()) << "\"\n"
          << roff_text(sub->get_description()) << "\n"
          << options_section(*sub);
    }
  }
  out << ".SH SEE ALSO\n\\fBmvc\\fR(1)\n";
  return out.str();
}

std::string main_page(CLI::App& app, const std::vector<GuideSection>& guide) {
  std::ostringstream out;
  out << th("mvc") << ".SH NAME\nmvc \\- version control for PyTorch models, in git\n.SH SYNOPSIS\n"
      << ".B mvc\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n.br\n.B mvc help\n[\\fICOMMAND\\fR]\n"
      << ".SH DESCRIPTION\n"
      << markdown_to_roff(guide.front().body) << ".SH OPTIONS\n"
      << options_section(app) << ".SH COMMANDS\n";
  for (CLI::App* sub : visible_subcommands(app))
    out << ".TP\n\\fBmvc\\-" << roff_text(sub->get_name()) << "\\fR(1)\n" << roff_text(sub->get_description()) << "\n";
  for (const GuideSection& g : guide)
    if (g.heading == "Exit codes") out << ".SH \"EXIT STATUS\"\n" << markdown_to_roff(g.body);
  out << ".SH \"SEE ALSO\"\n\\fBgit\\fR(1)";
  for (CLI::App* sub : visible_subcommands(app)) out << ", \\fBmvc\\-" << roff_text(sub->get_name()) << "\\fR(1)";
  out << "\n";
  return out.str();
}

// --- completion -------------------------------------------------------------------------------

std::string option_words(const CLI::App& app) {
  std::string w;
  for (const CLI::Option* o : options_of(app, false)) {
    for (const std::string& s : o->get_snames()) w += (w.empty() ? "-" : " -") + s;
    for (const std::string& l : o->get_lnames()) w += (w.empty() ? "--" : " --") + l;
  }
  return w;
}

std::string value_options(const CLI::App& app) {
  std::string w;
  for (const CLI::Option* o : options_of(app, false)) {
    if (is_flag(o)) continue;
    for (const std::string& s : o->get_snames()) w += (w.empty() ? "-" : " -") + s;
    for (const std::string& l : o->get_lnames()) w += (w.empty() ? "--" : " --") + l;
  }
  return w;
}

std::string sub_words(CLI::App& app) {
  std::string w;
  for (CLI::App* sub : visible_subcommands(app)) w += (w.empty() ? "" : " ") + sub->get_name();
  return w;
}

std::string bash_completion(CLI::App& app) {
  std::ostringstream out;
  out << "# bash completion for mvc. Generated by `mvc generate-docs` from the CLI's own definitions:\n"
         "# do not edit.\n"
         "_mvc() {\n"
         "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"\" cmd=\"\" sub=\"\" i w\n"
         "  [ \"$COMP_CWORD\" -gt 0 ] && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    w=\"${COMP_WORDS[i]}\"\n"
         "    case \"$w\" in\n"
         "      -*) ;;\n"
         "      *) if [ -z \"$cmd\" ]; then cmd=\"$w\"; elif [ -z \"$sub\" ]; then sub=\"$w\"; fi ;;\n"
         "    esac\n"
         "  done\n"
         "  [ \"$cmd\" = help ] && { COMPREPLY=($(compgen -W \""
      << sub_words(app)
      << "\" -- \"$cur\")); return 0; }\n"
         "  local opts=\"\" subs=\"\" values=\"\"\n"
         "  case \"$cmd\" in\n"
         "    \"\")\n"
         "      COMPREPLY=($(compgen -W \""
      << sub_words(app) << " help " << option_words(app)
      << "\" -- \"$cur\"))\n"
         "      return 0 ;;\n";
  for (CLI::App* sub : visible_subcommands(app)) {
    out << "    " << sub->get_name() << ")\n";
    auto subs = visible_subcommands(*sub);
    if (subs.empty()) {
      out << "      opts=\"" << option_words(*sub) << "\" values=\"" << value_options(*sub) << "\" ;;\n";
      continue;
    }
    out << "      case \"$sub\" in\n";
    for (CLI::App* s2 : subs)
      out << "        " << s2->get_name() << ") opts=\"" << option_words(*s2) << "\" values=\"" << value_options(*s2)
          << "\" ;;\n";
    out << "        *) opts=\"" << option_words(*sub) << "\" subs=\"" << sub_words(*sub) << "\" ;;\n"
        << "      esac ;;\n";
  }
  out << "    *) return 0 ;;\n"
         "  esac\n"
         "  if [ -n \"$prev\" ] && [[ \" $values \" == *\" $prev \"* ]]; then\n"
         "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
         "  elif [[ \"$cur\" == -* ]]; then\n"
         "    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
         "  elif [ -n \"$subs\" ]; then\n"
         "    COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n"
         "  else\n"
         "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
         "  fi\n"
         "  return 0\n"
         "}\n"
         "complete -o filenames -o bashdefault -F _mvc mvc\n";
  return out.str();
}

/// Text inside a single-quoted zsh spec: ' closed and reopened; `special` characters
/// backslash-escaped ("[]" in an option's [description], ":" in a name, which ends at a colon).
std::string zsh_quote(const std::string& s, const std::string& special) {
  std::string out;
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else if (special.find(c) != std::string::npos)
      out += std::string("\\") + c;
    else
      out += c;
  }
  return out;
}

std::string zsh_arguments(const CLI::App& app, const std::string& indent) {
  std::ostringstream out;
  out << indent << "_arguments -s";
  for (const CLI::Option* o : options_of(app, false)) {
    std::vector<std::string> names;
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    for (const std::string& n : names)
      out << " \\\n"
          << indent << "  '" << n << "[" << zsh_quote(o->get_description(), "[]") << "]"
          << (is_flag(o) ? "" : ":" + zsh_quote(value_name(o), ":") + ":_files") << "'";
  }
  out << " \\\n" << indent << "  '*:file:_files'\n";
  return out.str();
}

std::string zsh_describe(CLI::App& app, const std::string& indent, const std::string& what) {
  std::ostringstream out;
  out << indent << "local -a cmds=(\n";
  for (CLI::App* sub : visible_subcommands(app))
    out << indent << "  '" << zsh_quote(sub->get_name(), ":") << ":" << zsh_quote(sub->get_description(), "") << "'\n";
  out << indent << ")\n" << indent << "_describe '" << what << "' cmds\n";
  return out.str();
}

std::string zsh_completion(CLI::App& app) {
  std::ostringstream out;
  out << "#compdef mvc\n# zsh completion for mvc. Generated by `mvc generate-docs` from the CLI's own "
         "definitions: do not edit.\n"
         "_mvc() {\n"
         "  if (( CURRENT == 2 )); then\n"
      << zsh_describe(app, "    ", "mvc command")
      << "    return\n"
         "  fi\n"
         "  local cmd=${words[2]}\n"
         "  shift words; (( CURRENT-- ))\n"
         "  case $cmd in\n";
  for (CLI::App* sub : visible_subcommands(app)) {
    out << "    " << sub->get_name() << ")\n";
    auto subs = visible_subcommands(*sub);
    if (subs.empty()) {
      out << zsh_arguments(*sub, "      ") << "      ;;\n";
      continue;
    }
    out << "      if (( CURRENT == 2 )); then\n"
        << zsh_describe(*sub, "        ", "mvc " + sub->get_name() + " command") << "        return\n"
        << "      fi\n"
        << "      local sub=${words[2]}\n"
        << "      shift words; (( CURRENT-- ))\n"
        << "      case $sub in\n";
    for (CLI::App* s2 : subs)
      out << "        " << s2->get_name() << ")\n" << zsh_arguments(*s2, "          ") << "          ;;\n";
    out << "      esac\n      ;;\n";
  }
  out << "    help)\n" << zsh_describe(app, "      ", "mvc command") << "      ;;\n";
  out << "  esac\n}\n_mvc \"$@\"\n";
  return out.str();
}

}  // namespace

void add_generate_docs(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string guide, man, bash, zsh;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("generate-docs", "Write the man pages and completion scripts (used by the build)");
  cmd->group("");  // hidden: not in mvc --help, not suggested, no page of its own
  cmd->add_option("--guide", opts->guide, "docs/user-guide.md, for the commands' descriptions")->required();
  cmd->add_option("--man", opts->man, "Directory for mvc.1 and mvc-COMMAND.1");
  cmd->add_option("--bash", opts->bash, "File for the bash completion script");
  cmd->add_option("--zsh", opts->zsh, "File for the zsh completion script (_mvc)");
  cmd->callback([&app, &ctx, opts] {
    ctx.action = [&app, opts] {
      std::vector<GuideSection> guide = read_guide(opts->guide);
      std::vector<std::string> names;
      for (CLI::App* sub : visible_subcommands(app)) names.push_back(sub->get_name());
      if (!opts->man.empty()) {
        fs::path dir = opts->man;
        write_file(dir / "mvc.1", main_page(app, guide));
        for (CLI::App* sub : visible_subcommands(app)) {
          std::vector<const GuideSection*> sections;
          for (const GuideSection& g : guide) {
            auto named = commands_named(g.heading, names);
            if (std::find(named.begin(), named.end(), sub->get_name()) != named.end()) sections.push_back(&g);
          }
          write_file(dir / ("mvc-" + sub->get_name() + ".1"), command_page(sub->get_name(), *sub, sections));
        }
      }
      if (!opts->bash.empty()) write_file(opts->bash, bash_completion(app));
      if (!opts->zsh.empty()) write_file(opts->zsh, zsh_completion(app));
      return 0;
    };
  });
}

}  // namespace mvc::cli
