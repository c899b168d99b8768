"""report_files: the report directory, its files and latest links, written whole and only when they change."""
import os

import pytest

from ansible_collections.kvmigrate.replication.plugins.modules.report_files import run


def _params(path, files, links=None):
    return dict(path=str(path), files=[dict(name=name, content=content) for name, content in files], links=links or {})


def test_writes_the_files_and_links_in_a_new_directory_then_a_second_run_changes_nothing(tmp_path):
    path = tmp_path / 'reports' / 'nested'
    params = _params(path, [('migrate-1.json', '{"pairs": []}\n'), ('report-1.html', '<p>ok</p>')],
                     {'latest.json': 'migrate-1.json', 'latest.html': 'report-1.html'})
    result = run(params)
    assert result['changed'] is True
    assert sorted(result['written']) == [str(path / 'migrate-1.json'), str(path / 'report-1.html')]
    assert sorted(result['linked']) == [str(path / 'latest.html'), str(path / 'latest.json')]
    assert (path / 'latest.json').read_text() == '{"pairs": []}\n' and os.readlink(str(path / 'latest.html')) == 'report-1.html'
    assert oct(os.stat(str(path / 'report-1.html')).st_mode & 0o777) == '0o644'
    assert oct(os.stat(str(path)).st_mode & 0o777) == '0o755'
    assert sorted(os.listdir(str(path))) == ['latest.html', 'latest.json', 'migrate-1.json', 'report-1.html']
    assert run(params) == dict(changed=False, written=[], linked=[])


def test_a_later_run_moves_the_links_and_keeps_the_earlier_files(tmp_path):
    run(_params(tmp_path, [('migrate-1.json', 'one')], {'latest.json': 'migrate-1.json'}))
    result = run(_params(tmp_path, [('migrate-2.json', 'two')], {'latest.json': 'migrate-2.json'}))
    assert result['linked'] == [str(tmp_path / 'latest.json')]
    assert (tmp_path / 'latest.json').read_text() == 'two' and (tmp_path / 'migrate-1.json').read_text() == 'one'
    # a file rewritten with other content is reported and replaced whole
    assert run(_params(tmp_path, [('migrate-2.json', 'two, again')]))['written'] == [str(tmp_path / 'migrate-2.json')]
    assert (tmp_path / 'migrate-2.json').read_text() == 'two, again'
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith('.')]


def test_check_mode_reports_what_it_would_write_and_writes_nothing(tmp_path):
    path = tmp_path / 'reports'
    result = run(_params(path, [('a.json', 'x')], {'latest.json': 'a.json'}), check_mode=True)
    assert result == dict(changed=True, written=[str(path / 'a.json')], linked=[str(path / 'latest.json')])
    assert not path.exists()


@pytest.mark.parametrize('files, links, message', [
    ([('../a.json', 'x')], {}, "File name '../a.json' is not a plain file name"),
    ([('..', 'x')], {}, "File name '..' is not a plain file name"),
    ([('a.json', 'x')], {'sub/latest.json': 'a.json'}, "Link name 'sub/latest.json' is not a plain file name"),
    ([('a.json', 'x')], {'latest.json': 'b.json'}, "Link latest.json points at 'b.json', which is not one of the files "
                                                   "written: name one of a.json."),
    ([('a.json', 'x')], {'a.json': 'a.json'}, 'Link a.json has the name of a file written in the same run'),
])
def test_names_outside_the_directory_and_links_to_nothing_are_refused_before_anything_is_written(tmp_path, files, links,
                                                                                                 message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)').replace('.', r'\.')):
        run(_params(tmp_path / 'reports', files, links))
    assert not (tmp_path / 'reports').exists() and not (tmp_path / 'a.json').exists()


def test_a_path_that_is_a_file_and_a_link_over_a_directory_are_refused(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(ValueError, match='exists and is not a directory'):
        run(_params(tmp_path / 'file', [('a.json', 'x')]))
    (tmp_path / 'latest.json').mkdir()
    with pytest.raises(ValueError, match='would replace a directory'):
        run(_params(tmp_path, [('a.json', 'x')], {'latest.json': 'a.json'}))
    assert not (tmp_path / 'a.json').exists()
