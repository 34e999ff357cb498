#include "text/prompt.h"

#include <fmt/format.h>

namespace sgt::text {

BagelTokens BagelTokens::from(const Tokenizer& tokenizer) {
  return {tokenizer.require_id("<|im_start|>"), tokenizer.require_id("<|im_end|>"),
          tokenizer.require_id("<|vision_start|>"), tokenizer.require_id("<|vision_end|>")};
}

void append_bagel_text(const Tokenizer& tokenizer, const BagelTokens& ids, std::string_view text,
                       std::vector<TokenId>& out) {
  out.push_back(ids.im_start);
  tokenizer.encode_into(text, out);
  out.push_back(ids.im_end);
}

std::vector<TokenId> bagel_text_segment(const Tokenizer& tokenizer, std::string_view text) {
  std::vector<TokenId> out;
  append_bagel_text(tokenizer, BagelTokens::from(tokenizer), text, out);
  return out;
}

std::string qwen2vl_chat_prompt(std::span<const ChatMessage> messages, const ChatTemplateOptions& options) {
  std::string out;
  int images = 0, videos = 0;  // counted over the whole conversation, as the template's namespaces do
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (i == 0 && m.role != "system") out += "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";
    out += "<|im_start|>" + m.role + "\n";
    if (m.parts.empty()) {
      out += m.content;
    } else {
      for (const ChatPart& p : m.parts) {
        switch (p.kind) {
          case ChatPart::Kind::kImage:
            ++images;
            if (options.add_vision_id) out += fmt::format("Picture {}: ", images);
            out += "<|vision_start|><|image_pad|><|vision_end|>";
            break;
          case ChatPart::Kind::kVideo:
            ++videos;
            if (options.add_vision_id) out += fmt::format("Video {}: ", videos);
            out += "<|vision_start|><|video_pad|><|vision_end|>";
            break;
          case ChatPart::Kind::kText:
            out += p.text;
            break;
        }
      }
    }
    out += "<|im_end|>\n";
  }
  if (options.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string omnigen2_prompt(std::string_view instruction, std::string_view system) {
  const ChatMessage messages[] = {{"system", std::string(system), {}}, {"user", std::string(instruction), {}}};
  return qwen2vl_chat_prompt(messages);
}

}  // namespace sgt::text
