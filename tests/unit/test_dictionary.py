"""The jieba dictionary generated from the knowledge base keeps service names whole."""
import jieba

from core.settings import get_settings
from knowledge.dictionary import write_dictionary


def test_service_names_and_hotline_words_stay_whole(tmp_path):
    path = write_dictionary(tmp_path, get_settings().knowledge_dir)
    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(path))
    for sentence, word in [("我想查一下办件进度", "办件进度"), ("社会保障卡丢了怎么办", "社会保障卡"),
                           ("新生儿出生一件事要带什么", "新生儿出生一件事"), ("能不能一件事一次办", "一件事"),
                           ("企业开办一件事怎么申请", "企业开办一件事")]:
        assert word in tokenizer.lcut(sentence), sentence


def test_dictionary_is_rewritten_only_when_it_changes(tmp_path):
    path = write_dictionary(tmp_path, get_settings().knowledge_dir)
    before = path.stat().st_mtime_ns
    write_dictionary(tmp_path, get_settings().knowledge_dir)
    assert path.stat().st_mtime_ns == before  # unchanged input must not force a Rasa retrain
